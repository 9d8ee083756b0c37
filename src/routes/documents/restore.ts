import { createRouter } from "../../app/create-app.ts";
import { restoreDeletedDocument } from "../../documents/changes.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { VALIDATOR_HEADERS } from "../conditional.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { viewerOf } from "../viewer.ts";
import { intakeDeps } from "./deps.ts";
import { documentBody } from "./preconditions.ts";
import { DocumentIdParams, DocumentSchema } from "./schemas.ts";
import { searchChanged } from "./search-changes.ts";

const route = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/documents/{id}/restore",
    tags: ["Documents"],
    summary: "Restore a deleted document",
    description:
      "Brings back a document deleted less than 7 days ago (see `GET /documents/trash`), with its versions, shares and history: it is listed, searchable and downloadable again. Who may delete it may restore it: the owner of a personal document, an owner or admin of its project, or an administrator (403 for someone who only reads or edits it). 404 when it was purged, never existed or is not visible to the caller; 409 when it is not deleted, or its project is deleted or archived. It counts again against the quota of where it is, as an upload does: its owner's (403 `quota_exceeded`) or its project's (413). Not conditional: a deleted document has no representation to compare.",
    request: { params: DocumentIdParams },
    responses: {
      200: { ...jsonResponse("The document, restored.", DocumentSchema), headers: VALIDATOR_HEADERS },
      ...problemResponses(400, 403, 404, 409, 413, 503),
    },
  },
  { projectKeys: "row-level-security" },
);

export const restoreDocument = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const caller = callerOf(c);
  const { uploads } = c.get("services").config;
  const document = await restoreDeletedDocument(
    intakeDeps(c),
    caller.actor,
    { id, viewer: viewerOf(c) },
    { quota: uploads.quota, projectQuotaBytes: uploads.projectQuotaBytes },
  );
  await searchChanged(c, id);
  const response = await documentBody(document);
  return c.json(response.body, 200, response.headers);
});
