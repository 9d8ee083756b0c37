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
    summary: "Delete a document (its objects are removed)",
    description:
      "The owner of a personal document, an owner or admin of its project (not while it is archived: 409), or an administrator. The row is kept as deleted for a while; every version's object and thumbnail is removed. With `If-Match` or `If-Unmodified-Since`, only if the document has not changed since (412 otherwise).",
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
  const { database, storage, thumbnails, background } = c.get("services");
  const removed = await removeDocument(database, callerOf(c).actor, { id, viewer: viewerOf(c) }, unchangedSince(c));
  // The content goes now; if storage is down, the sweeper removes it when it purges the row.
  background("removing a deleted document's objects", () =>
    Promise.all([storage.deleteMany(removed.objects), thumbnails.deleteMany(removed.thumbnails)]),
  );
  await searchChanged(c, id);
  return c.body(null, 204);
});
