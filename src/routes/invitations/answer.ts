import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { firstRow } from "../../db/actor.ts";
import {
  acceptInvitationStatement,
  closeInvitationStatement,
  selectInvitation,
  selectProjectOfInvitation,
} from "../../db/queries/projects.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { announce } from "../projects/announce.ts";
import { InvitationIdParams, ProjectSchema, toProjectJson } from "../projects/schemas.ts";

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

export const answerInvitation = createRouter()
  .openapi(answerRoute("accept"), async (c) => {
    const { id } = c.req.valid("param");
    const caller = callerOf(c);
    // One round trip: the answer, and the project joined (visible in the same transaction).
    const [accepted, rows] = await asCaller(c).write((db) => [
      acceptInvitationStatement(db, { id, inviteeId: caller.userId }),
      selectProjectOfInvitation(db, { invitationId: id, userId: caller.userId }),
    ]);
    const invitation = accepted.rows[0];
    const joined = firstRow(rows);
    if (!invitation) throw await unanswerable(c, id);
    if (!joined) throw new ApiError("not_found", { detail: `The project ${invitation.project_id} is gone.` });
    await announce(
      c,
      [
        {
          type: "project.member_joined",
          projectId: invitation.project_id,
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
