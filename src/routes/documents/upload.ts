import { createRouter } from "../../app/create-app.ts";
import { intakeDocument } from "../../documents/intake.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { VALIDATOR_HEADERS } from "../conditional.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { projectMembersFor } from "../projects/access.ts";
import { intakeDeps, uploadInput } from "./deps.ts";
import { documentBody } from "./preconditions.ts";
import { DocumentSchema, UploadBody, UploadQuery } from "./schemas.ts";
import { audienceChanged } from "./search-changes.ts";

const route = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/documents",
    tags: ["Documents"],
    summary: "Upload a document",
    description:
      "Streams the file to object storage (multipart upload beyond 8 MiB; never held whole in memory), hashing it on the way; then records the document and publishes `document.uploaded`. Processing (virus scan, text extraction, thumbnail) follows asynchronously: `status` goes pending → scanning → processing → ready, or quarantined / failed. With `projectId`, the document is filed in that project (editors and up; 404 for a project the caller is not in, 409 while it is archived). On any failure nothing is left behind.",
    request: { query: UploadQuery, body: UploadBody },
    responses: {
      201: {
        ...jsonResponse("Stored; processing follows. `Location` names the document.", DocumentSchema),
        headers: { ...VALIDATOR_HEADERS, Location: { description: "The new document.", schema: { type: "string" } } },
      },
      ...problemResponses(400, 403, 404, 409, 413, 415, 503),
    },
  },
  { projectKeys: "row-level-security" },
);

export const uploadDocument = createRouter().openapi(route, async (c) => {
  const id = crypto.randomUUID();
  const { userId, actor } = callerOf(c);
  const { projectId } = c.req.valid("query");
  // Checked before any byte is stored; row-level security checks it again when the row is written.
  const members = projectId ? await projectMembersFor(c, projectId) : [];
  const document = await intakeDocument(
    intakeDeps(c),
    { documentId: id, actor, ownerId: userId, projectId },
    uploadInput(c),
  );
  // A new document has no shares yet: its owner, its project's members (and who reads all) are
  // its whole audience.
  await audienceChanged(c, [{ id: userId }, ...members]);
  const { body, headers } = await documentBody(document);
  return c.json(body, 201, { ...headers, Location: `/documents/${id}` });
});
