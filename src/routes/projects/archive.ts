import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { firstRow } from "../../db/actor.ts";
import { setProjectArchivedStatement } from "../../db/queries/projects.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { projectAllowing } from "./access.ts";
import { ProjectIdParams, ProjectSchema, toProjectJson } from "./schemas.ts";

const routeFor = (archived: boolean) =>
  protectedRoute(
    "caller",
    {
      method: "post",
      path: archived ? "/projects/{id}/archive" : "/projects/{id}/unarchive",
      tags: ["Projects"],
      summary: archived ? "Archive a project (read-only)" : "Unarchive a project",
      description: archived
        ? "Owners only. Members keep reading; nobody uploads, edits, moves or deletes its documents or changes its settings until it is unarchived. Members and invitations can still be managed. Idempotent."
        : "Owners only. Idempotent.",
      request: { params: ProjectIdParams },
      responses: { 200: jsonResponse("The project.", ProjectSchema), ...problemResponses(400, 403, 404, 503) },
    },
    { projectKeys: { param: "id" } },
  );

const handlerFor = (archived: boolean) =>
  createRouter().openapi(routeFor(archived), async (c) => {
    const { id } = c.req.valid("param");
    const access = await projectAllowing(c, id, "own", { whileArchived: true });
    const [rows] = await asCaller(c).write((db) => [setProjectArchivedStatement(db, { id, archived })]);
    // No row: it already was in that state (or went away since; then the project as read is answered).
    return c.json(toProjectJson(firstRow(rows) ?? access.project, access.role), 200);
  });

export const archiveProject = handlerFor(true);
export const unarchiveProject = handlerFor(false);
