import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { selectTrashPage } from "../../db/queries/documents.ts";
import { DELETED_DOCUMENT_GRACE_MS, purgeAt } from "../../documents/retention.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { cursorParam, pageOf } from "../../pkg/pagination/cursor.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { PageQuery } from "../pagination.ts";
import { viewerOf } from "../viewer.ts";
import { DeletedDocumentPageSchema, toDocumentJson } from "./schemas.ts";

const route = protectedRoute(
  "caller",
  {
    method: "get",
    path: "/documents/trash",
    tags: ["Documents"],
    summary: "List deleted documents I can restore",
    description:
      "Documents deleted less than 7 days ago that the caller may restore (`POST /documents/{id}/restore`): their personal documents, those of projects where they are an owner or admin (not archived or deleted), or every one for administrators. Most recently deleted first, keyset-paginated (`nextCursor`); each with `deletedAt` and `purgeAt`, when the sweeper removes it for good.",
    request: { query: PageQuery },
    responses: { 200: jsonResponse("A page.", DeletedDocumentPageSchema), ...problemResponses(400, 503) },
  },
  { projectKeys: "row-level-security" },
);

export const listTrash = createRouter().openapi(route, async (c) => {
  const query = c.req.valid("query");
  // The trash's cursor names a deletion time where the list's names a creation time: same shape.
  const after = cursorParam(query.cursor);
  const [rows] = await asCaller(c).read((db) => [
    selectTrashPage(db, {
      viewer: viewerOf(c),
      graceMs: DELETED_DOCUMENT_GRACE_MS,
      limit: query.limit,
      after: after ? { deletedAt: after.createdAt, id: after.id } : undefined,
    }),
  ]);
  const { page, nextCursor } = pageOf(
    rows.map(({ document, cursorAt }) => ({ document, cursor: { createdAt: cursorAt, id: document.id } })),
    query.limit,
  );
  return c.json(
    {
      data: page.flatMap(({ document }) =>
        document.deletedAt
          ? [
              {
                ...toDocumentJson(document),
                deletedAt: document.deletedAt.toISOString(),
                purgeAt: purgeAt(document.deletedAt).toISOString(),
              },
            ]
          : [],
      ),
      nextCursor,
    },
    200,
  );
});
