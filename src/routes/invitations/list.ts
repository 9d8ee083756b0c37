import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { actAs, SYSTEM } from "../../db/actor.ts";
import { selectPendingInvitations } from "../../db/queries/projects.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { InvitationListSchema, toInvitationJson } from "../projects/schemas.ts";

const route = protectedRoute("caller", {
  method: "get",
  path: "/invitations",
  tags: ["Projects"],
  summary: "My pending invitations",
  description: "Invitations to projects waiting for the caller's answer, newest first, at most 100.",
  responses: { 200: jsonResponse("The pending invitations.", InvitationListSchema), ...problemResponses(503) },
});

export const listInvitations = createRouter().openapi(route, async (c) => {
  const caller = callerOf(c);
  // As the system: the inbox names projects the invitee cannot read yet; the query is theirs only.
  const [, rows] = await asCaller(c).read((db) => [
    actAs(db, SYSTEM),
    selectPendingInvitations(db, { inviteeId: caller.userId }),
  ]);
  c.header("Cache-Control", "no-store");
  return c.json({ data: rows.map(toInvitationJson) }, 200);
});
