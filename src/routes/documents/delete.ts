import { createRouter } from "../../app/create-app.ts";
import { removeDocument } from "../../documents/changes.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalWriteHeaders } from "../conditional.ts";
import { protectedRoute } from "../openapi.ts";
import { viewerOf } from "../viewer.ts";
import { managed } from "./access.ts";
import { unchangedSince } from "./preconditions.ts";
import { DocumentIdParams } from "./schemas.ts";
import { searchChanged } from "./search-changes.ts";

const route = protectedRoute(
  "caller",
  {
    method: "delete",
    path: "/documents/{id}",
    tags: ["Documents"],
    summary: "Delete a document (restorable for 7 days)",
    description:
      "The owner of a personal document, an owner or admin of its project (not while it is archived: 409), or an administrator. The document disappears from lists, search, downloads and thumbnails at once, but is kept, with every version's object and thumbnail, for 7 days: it is listed in `GET /documents/trash` and `POST /documents/{id}/restore` brings it back. Then the sweeper purges it for good. With `If-Match` or `If-Unmodified-Since`, only if the document has not changed since (412 otherwise).",
    request: { params: DocumentIdParams, headers: ConditionalWriteHeaders },
    responses: { 204: { description: "Deleted." }, ...problemResponses(400, 403, 404, 409, 412, 503) },
  },
  { projectKeys: "row-level-security" },
);

export const deleteDocument = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  await managed(
    c,
    id,
    "Only the owner of a personal document, an owner or admin of its project, or an administrator deletes it.",
  );
  const { database } = c.get("services");
  // The objects stay for a restore; the sweeper removes them when it purges the row.
  await removeDocument(database, callerOf(c).actor, { id, viewer: viewerOf(c) }, unchangedSince(c));
  await searchChanged(c, id);
  return c.body(null, 204);
});
