import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { actAs, asActor, firstRow, SYSTEM } from "../../db/actor.ts";
import { uniqueViolation } from "../../db/errors.ts";
import {
  closeInvitationStatement,
  insertInvitationStatement,
  revokeExpiredInvitationStatement,
  selectMember,
  selectPendingInvitations,
} from "../../db/queries/projects.ts";
import { findUserByLogin } from "../../db/queries/users.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonBody, jsonResponse, protectedRoute } from "../openapi.ts";
import { projectAllowing } from "./access.ts";
import { announce } from "./announce.ts";
import {
  CreateInvitationSchema,
  InvitationListSchema,
  InvitationSchema,
  ProjectIdParams,
  ProjectInvitationParams,
  toInvitationJson,
} from "./schemas.ts";

const createRoute = protectedRoute("caller", {
  method: "post",
  path: "/projects/{id}/invitations",
  tags: ["Projects"],
  summary: "Invite a user to the project",
  description:
    "Owners and admins invite an existing, active user by username or email, as admin, editor or viewer; the invitee accepts or declines it (`/invitations`) within 14 days. 404 when no active user has that login, 409 when they are already a member or already invited.",
  request: { params: ProjectIdParams, body: jsonBody(CreateInvitationSchema) },
  responses: {
    201: jsonResponse("The pending invitation; the invitee finds it in `GET /invitations`.", InvitationSchema),
    ...problemResponses(400, 403, 404, 409, 415, 503),
  },
});

const listRoute = protectedRoute("caller", {
  method: "get",
  path: "/projects/{id}/invitations",
  tags: ["Projects"],
  summary: "A project's pending invitations",
  description: "Owners and admins; newest first, at most 100.",
  request: { params: ProjectIdParams },
  responses: {
    200: jsonResponse("The pending invitations.", InvitationListSchema),
    ...problemResponses(400, 403, 404, 503),
  },
});

const revokeRoute = protectedRoute("caller", {
  method: "delete",
  path: "/projects/{id}/invitations/{invitationId}",
  tags: ["Projects"],
  summary: "Revoke a pending invitation",
  description: "Owners and admins. 404 when there is no pending invitation of that id in the project.",
  request: { params: ProjectInvitationParams },
  responses: { 204: { description: "Revoked." }, ...problemResponses(400, 403, 404, 503) },
});

export const manageInvitations = createRouter()
  .openapi(createRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { login, role } = c.req.valid("json");
    const caller = callerOf(c);
    const { database } = c.get("services");
    await projectAllowing(c, id, "manage", { whileArchived: true });
    // Users are only readable across accounts by staff: the login is looked up as the system.
    const found = await asActor(database.db, SYSTEM, (tx) => findUserByLogin(tx, { login }));
    if (found?.status !== "active") {
      throw new ApiError("not_found", { detail: "No active user has that username or email." });
    }
    const [member] = await asCaller(c).read((db) => [selectMember(db, { projectId: id, userId: found.id })]);
    if (member.length > 0) throw new ApiError("conflict", { detail: `${found.username} is already a member.` });
    const invitationId = crypto.randomUUID();
    try {
      await asCaller(c).write((db) => [
        revokeExpiredInvitationStatement(db, { projectId: id, inviteeId: found.id }),
        insertInvitationStatement(db, {
          id: invitationId,
          projectId: id,
          inviteeId: found.id,
          role,
          invitedBy: caller.userId,
        }),
      ]);
    } catch (error) {
      if (uniqueViolation(error) !== "project_invitations_pending_key") throw error;
      throw new ApiError("conflict", { detail: `${found.username} already has a pending invitation to this project.` });
    }
    const [, rows] = await asCaller(c).read((db) => [
      actAs(db, SYSTEM),
      selectPendingInvitations(db, { projectId: id, viewerId: undefined }),
    ]);
    const invitation = rows.find((row) => row.invitation.id === invitationId);
    if (!invitation) throw new Error("the new invitation was not found");
    await announce(c, [{ type: "project.member_invited", projectId: id, userId: found.id, role, invitationId }]);
    return c.json(toInvitationJson(invitation), 201);
  })
  .openapi(listRoute, async (c) => {
    const { id } = c.req.valid("param");
    const caller = callerOf(c);
    await projectAllowing(c, id, "manage", { whileArchived: true });
    const [, rows] = await asCaller(c).read((db) => [
      actAs(db, SYSTEM),
      selectPendingInvitations(db, { projectId: id, viewerId: caller.role === "admin" ? undefined : caller.userId }),
    ]);
    c.header("Cache-Control", "no-store");
    return c.json({ data: rows.map(toInvitationJson) }, 200);
  })
  .openapi(revokeRoute, async (c) => {
    const { id, invitationId } = c.req.valid("param");
    await projectAllowing(c, id, "manage", { whileArchived: true });
    const [rows] = await asCaller(c).write((db) => [
      closeInvitationStatement(db, { id: invitationId, status: "revoked", projectId: id }),
    ]);
    if (!firstRow(rows))
      throw new ApiError("not_found", { detail: `No pending invitation ${invitationId} in this project.` });
    return c.body(null, 204);
  });
