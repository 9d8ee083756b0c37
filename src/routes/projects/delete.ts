import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { actAs, SYSTEM } from "../../db/actor.ts";
import { deleteProjectStatements, selectProjectAudience } from "../../db/queries/projects.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { audienceChanged } from "../documents/search-changes.ts";
import { protectedRoute } from "../openapi.ts";
import { projectAllowing } from "./access.ts";
import { ProjectIdParams } from "./schemas.ts";

const route = protectedRoute(
  "caller",
  {
    method: "delete",
    path: "/projects/{id}",
    tags: ["Projects"],
    summary: "Delete a project",
    description:
      "Owners only, and not while archived (unarchive first). Soft: the project and its documents disappear for everyone at once, pending invitations are revoked, and the sweeper purges the project, its documents and their objects after the documents' grace period.",
    request: { params: ProjectIdParams },
    responses: { 204: { description: "Deleted." }, ...problemResponses(400, 403, 404, 409, 503) },
  },
  { projectKeys: { param: "id" } },
);

export const deleteProject = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  await projectAllowing(c, id, "own");
  const caller = callerOf(c);
  // Who could read its documents until now (read as the system, before): their cached searches go stale.
  const [, audience, , deleted] = await asCaller(c).write((db) => {
    const statements = deleteProjectStatements(db, { id });
    return [
      actAs(db, SYSTEM),
      selectProjectAudience(db, { projectId: id }),
      actAs(db, caller.actor),
      statements.asCaller,
      actAs(db, SYSTEM),
      ...statements.asSystem,
    ];
  });
  if (deleted.length === 0) {
    // Archived, deleted or the caller's role gone since the check: nothing was written (one batch).
    await projectAllowing(c, id, "own");
    throw new ApiError("conflict", { detail: `The project ${id} changed meanwhile; nothing was deleted. Retry.` });
  }
  await audienceChanged(c, audience);
  return c.body(null, 204);
});
