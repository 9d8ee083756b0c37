import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { actAs, SYSTEM } from "../../db/actor.ts";
import { deleteProjectStatements, selectMembers } from "../../db/queries/projects.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { protectedRoute } from "../openapi.ts";
import { projectAllowing } from "./access.ts";
import { announce } from "./announce.ts";
import { ProjectIdParams } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "delete",
  path: "/projects/{id}",
  tags: ["Projects"],
  summary: "Delete a project",
  description:
    "Owners only, and not while archived (unarchive first). Soft: the project and its documents disappear for everyone at once, pending invitations are revoked, and the sweeper purges the project, its documents and their objects after the documents' grace period.",
  request: { params: ProjectIdParams },
  responses: { 204: { description: "Deleted." }, ...problemResponses(400, 403, 404, 409, 503) },
});

export const deleteProject = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  await projectAllowing(c, id, "own");
  const caller = callerOf(c);
  // Who could read its documents until now (read as the system, before), whose cached searches go stale.
  const [, members] = await asCaller(c).write((db) => [
    actAs(db, SYSTEM),
    selectMembers(db, { projectId: id, viewerId: undefined }),
    actAs(db, caller.actor),
    ...deleteProjectStatements(db, { id }),
  ]);
  await announce(
    c,
    [],
    members.map((member) => member.userId),
  );
  return c.body(null, 204);
});
