import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { activityPage, selectActivityPage, selectProject } from "../../db/queries/projects.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { cursorParam, pageOf } from "../../pkg/pagination/cursor.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { PageQuery } from "../pagination.ts";
import { accessOf } from "./access.ts";
import { ActivityPageSchema, ActivityQuery, ProjectIdParams, toActivityJson } from "./schemas.ts";

const route = protectedRoute(
  "caller",
  {
    method: "get",
    path: "/projects/{id}/activity",
    tags: ["Projects"],
    summary: "A project's activity feed, newest first",
    description:
      "Who uploaded, edited, versioned, shared, moved or deleted which document, and who joined, left, was invited, removed or given another role; the project's own changes. Recorded by the database in the transaction of each change. Any member; 404 for anyone else. Keyset-paginated.",
    request: { params: ProjectIdParams, query: PageQuery.extend(ActivityQuery.shape) },
    responses: { 200: jsonResponse("A page.", ActivityPageSchema), ...problemResponses(400, 404, 503) },
  },
  { projectKeys: { param: "id" } },
);

export const listActivity = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const query = c.req.valid("query");
  const after = cursorParam(query.cursor);
  const caller = callerOf(c);
  // The project (for the 404 of a non-member) and the page in one round trip; the page's query
  // requires the caller's membership itself, unless they are an administrator.
  const [project, rows] = await asCaller(c).read((db) => [
    selectProject(db, { id, userId: caller.userId }),
    selectActivityPage(db, {
      projectId: id,
      viewerId: caller.role === "admin" ? undefined : caller.userId,
      limit: query.limit,
      action: query.action,
      after,
    }),
  ]);
  accessOf(c, id, project);
  const { page, nextCursor } = pageOf(activityPage(rows), query.limit);
  c.header("Cache-Control", "no-store");
  return c.json({ data: page.map(({ activity }) => toActivityJson(activity)), nextCursor }, 200);
});
