import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { documentsPage, selectDocumentsPage } from "../../db/queries/documents.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { cursorParam, pageOf } from "../../pkg/pagination/cursor.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { viewerOf } from "../viewer.ts";
import { DocumentPageSchema, ListDocumentsQuery, toDocumentJson } from "./schemas.ts";

const route = protectedRoute(
  "caller",
  {
    method: "get",
    path: "/documents",
    tags: ["Documents"],
    summary: "List documents I can read",
    description:
      "Newest first, keyset-paginated (`nextCursor`); filter by tag, type, status, owner, project and creation date. Includes the documents of the caller's projects.",
    request: { query: ListDocumentsQuery },
    responses: { 200: jsonResponse("A page.", DocumentPageSchema), ...problemResponses(400, 503) },
  },
  { projectKeys: "row-level-security" },
);

export const listDocuments = createRouter().openapi(route, async (c) => {
  const query = c.req.valid("query");
  const after = cursorParam(query.cursor);
  const [rows] = await asCaller(c).readStale((db) => [
    selectDocumentsPage(db, {
      viewer: viewerOf(c),
      limit: query.limit,
      tag: query.tag,
      contentType: query.type,
      status: query.status,
      ownerId: query.owner,
      projectId: query.project === "none" ? null : query.project,
      createdFrom: query.createdFrom ? new Date(query.createdFrom) : undefined,
      createdTo: query.createdTo ? new Date(query.createdTo) : undefined,
      after,
    }),
  ]);
  const { page, nextCursor } = pageOf(documentsPage(rows), query.limit);
  return c.json({ data: page.map(toDocumentJson), nextCursor }, 200);
});
