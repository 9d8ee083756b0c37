import { createRouter } from "../../app/create-app.ts";
import { intakeDocument } from "../../documents/intake.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { VALIDATOR_HEADERS } from "../conditional.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { intakeDeps, uploadInput } from "./deps.ts";
import { documentBody } from "./preconditions.ts";
import { DocumentSchema, UploadBody, UploadQuery } from "./schemas.ts";
import { audienceChanged } from "./search-changes.ts";

const route = protectedRoute("caller", {
  method: "post",
  path: "/documents",
  tags: ["Documents"],
  summary: "Upload a document",
  description:
    "Streams the file to object storage (multipart upload beyond 8 MiB; never held whole in memory), hashing it on the way; then records the document and publishes `document.uploaded`. Processing (virus scan, text extraction, thumbnail) follows asynchronously: `status` goes pending → scanning → processing → ready, or quarantined / failed. On any failure nothing is left behind.",
  request: { query: UploadQuery, body: UploadBody },
  responses: {
    201: {
      ...jsonResponse("Stored; processing follows. `Location` names the document.", DocumentSchema),
      headers: { ...VALIDATOR_HEADERS, Location: { description: "The new document.", schema: { type: "string" } } },
    },
    ...problemResponses(400, 403, 413, 415, 503),
  },
});

export const uploadDocument = createRouter().openapi(route, async (c) => {
  const id = crypto.randomUUID();
  const { userId, actor } = callerOf(c);
  const document = await intakeDocument(intakeDeps(c), { documentId: id, actor, ownerId: userId }, uploadInput(c));
  // A new document has no shares yet: its owner (and who reads all) are its whole audience, known
  // without reading it back.
  await audienceChanged(c, [{ id: userId }]);
  const { body, headers } = await documentBody(document);
  return c.json(body, 201, { ...headers, Location: `/documents/${id}` });
});
