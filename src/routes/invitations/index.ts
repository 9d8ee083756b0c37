import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { actAs, firstRow, SYSTEM } from "../../db/actor.ts";
import {
  acceptInvitationStatements,
  closeInvitationStatement,
  selectInvitation,
  selectPendingInvitations,
  selectProject,
} from "../../db/queries/projects.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { announce } from "../projects/announce.ts";
import {
  InvitationIdParams,
  InvitationListSchema,
  ProjectSchema,
  toInvitationJson,
  toProjectJson,
} from "../projects/schemas.ts";

const listRoute = protectedRoute("caller", {
  method: "get",
  path: "/invitations",
  tags: ["Projects"],
  summary: "My pending invitations",
  description: "Invitations to projects waiting for the caller's answer, newest first, at most 100.",
  responses: { 200: jsonResponse("The pending invitations.", InvitationListSchema), ...problemResponses(503) },
});

const answerRoute = (answer: "accept" | "decline") =>
  protectedRoute("caller", {
    method: "post",
    path: `/invitations/{id}/${answer}`,
    tags: ["Projects"],
    summary: answer === "accept" ? "Accept an invitation" : "Decline an invitation",
    description: `${
      answer === "accept"
        ? "The caller joins the project in the invited role, in the same transaction that marks the invitation accepted."
        : "The invitation ends; the project's admins may invite again."
    } Only the invitee; 404 for anyone else. An invitation already answered, revoked or expired is a 409: an answer is given once.`,
    request: { params: InvitationIdParams },
    responses: {
      ...(answer === "accept"
        ? { 200: jsonResponse("The project joined.", ProjectSchema) }
        : { 204: { description: "Declined." } }),
      ...problemResponses(400, 404, 409, 503),
    },
  });

/** Why an invitation the caller could not answer was not answerable: 404 (not theirs) or 409 (answered, revoked, expired). */
async function unanswerable(c: Parameters<typeof callerOf>[0], id: string): Promise<ApiError> {
  const [rows] = await asCaller(c).read((db) => [selectInvitation(db, { id })]);
  const invitation = firstRow(rows);
  if (!invitation || invitation.inviteeId !== callerOf(c).userId) {
    return new ApiError("not_found", { detail: `No invitation ${id} for you.` });
  }
  const state = invitation.status === "pending" ? "expired" : invitation.status;
  return new ApiError("conflict", { detail: `The invitation ${id} is ${state}; it can no longer be answered.` });
}

export const invitationsRouter = createRouter()
  .openapi(listRoute, async (c) => {
    const caller = callerOf(c);
    const [, rows] = await asCaller(c).read((db) => [
      actAs(db, SYSTEM),
      selectPendingInvitations(db, { inviteeId: caller.userId }),
    ]);
    c.header("Cache-Control", "no-store");
    return c.json({ data: rows.map(toInvitationJson) }, 200);
  })
  .openapi(answerRoute("accept"), async (c) => {
    const { id } = c.req.valid("param");
    const caller = callerOf(c);
    const [, accepted] = await asCaller(c).write((db) =>
      acceptInvitationStatements(db, { id, inviteeId: caller.userId }),
    );
    const invitation = firstRow(accepted);
    if (!invitation) throw await unanswerable(c, id);
    const [rows] = await asCaller(c).read((db) => [
      selectProject(db, { id: invitation.projectId, userId: caller.userId }),
    ]);
    const joined = firstRow(rows);
    if (!joined) throw new ApiError("not_found", { detail: `The project ${invitation.projectId} is gone.` });
    await announce(
      c,
      [
        {
          type: "project.member_joined",
          projectId: invitation.projectId,
          userId: caller.userId,
          role: invitation.role,
        },
      ],
      [caller.userId],
    );
    return c.json(toProjectJson(joined.project, joined.role), 200);
  })
  .openapi(answerRoute("decline"), async (c) => {
    const { id } = c.req.valid("param");
    const caller = callerOf(c);
    const [rows] = await asCaller(c).write((db) => [
      closeInvitationStatement(db, { id, status: "declined", inviteeId: caller.userId }),
    ]);
    if (!firstRow(rows)) throw await unanswerable(c, id);
    return c.body(null, 204);
  });
