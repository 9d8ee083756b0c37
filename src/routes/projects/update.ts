import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { firstRow } from "../../db/actor.ts";
import { updateProjectStatement } from "../../db/queries/projects.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { noProject } from "../../projects/rules.ts";
import { jsonBody, jsonResponse, protectedRoute } from "../openapi.ts";
import { projectAllowing } from "./access.ts";
import { ProjectIdParams, ProjectPatchSchema, ProjectSchema, toProjectJson } from "./schemas.ts";

const route = protectedRoute(
  "caller",
  {
    method: "patch",
    path: "/projects/{id}",
    tags: ["Projects"],
    summary: "Change a project's name, description or settings",
    description:
      "Admins and owners, while the project is not archived (409). `settings` is a JSON merge patch (RFC 7396) applied by the database in the same statement.",
    request: { params: ProjectIdParams, body: jsonBody(ProjectPatchSchema) },
    responses: {
      200: jsonResponse("The changed project.", ProjectSchema),
      ...problemResponses(400, 403, 404, 409, 415, 503),
    },
  },
  { projectKeys: { param: "id" } },
);

export const editProject = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const changes = c.req.valid("json");
  const { role } = await projectAllowing(c, id, "manage");
  const [rows] = await asCaller(c).write((db) => [updateProjectStatement(db, { id, changes })]);
  const project = firstRow(rows);
  // Deleted or archived since the check above.
  if (!project) throw noProject(id);
  return c.json(toProjectJson(project, role), 200);
});
