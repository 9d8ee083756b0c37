import { createRouter } from "../../app/create-app.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { projectFor } from "./access.ts";
import { ProjectIdParams, ProjectSchema, toProjectJson } from "./schemas.ts";

const route = protectedRoute(
  "caller",
  {
    method: "get",
    path: "/projects/{id}",
    tags: ["Projects"],
    summary: "Read a project",
    description: "Members and administrators; 404 for anyone else.",
    request: { params: ProjectIdParams },
    responses: { 200: jsonResponse("The project.", ProjectSchema), ...problemResponses(400, 404, 503) },
  },
  { projectKeys: { param: "id" } },
);

export const readProject = createRouter().openapi(route, async (c) => {
  const { project, role } = await projectFor(c, c.req.valid("param").id);
  c.header("Cache-Control", "no-store");
  return c.json(toProjectJson(project, role), 200);
});
