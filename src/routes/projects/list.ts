import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { projectsPage, selectProjectsPage } from "../../db/queries/projects.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { cursorParam, pageOf } from "../../pkg/pagination/cursor.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { PageQuery } from "../pagination.ts";
import { ArchivedQuery, ProjectPageSchema, toProjectJson } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "get",
  path: "/projects",
  tags: ["Projects"],
  summary: "My projects, newest first",
  description: "The live projects the caller is a member of, with their role in each. Keyset-paginated.",
  request: { query: PageQuery.extend(ArchivedQuery.shape) },
  responses: { 200: jsonResponse("A page.", ProjectPageSchema), ...problemResponses(400, 503) },
});

export const listProjects = createRouter().openapi(route, async (c) => {
  const query = c.req.valid("query");
  const after = cursorParam(query.cursor);
  const [rows] = await asCaller(c).readStale((db) => [
    selectProjectsPage(db, { userId: callerOf(c).userId, limit: query.limit, archived: query.archived, after }),
  ]);
  const { page, nextCursor } = pageOf(projectsPage(rows), query.limit);
  c.header("Cache-Control", "no-store");
  return c.json({ data: page.map(({ project, role }) => toProjectJson(project, role)), nextCursor }, 200);
});
