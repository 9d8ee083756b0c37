import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { requireVerifiedEmail } from "../../auth/account-lifecycle.ts";
import { actAs, firstRow, SYSTEM } from "../../db/actor.ts";
import { uniqueViolation } from "../../db/errors.ts";
import {
  closeInvitationStatement,
  insertInvitationStatement,
  revokeExpiredInvitationStatement,
  selectInvitationRow,
  selectInvitee,
  selectPendingInvitations,
  selectProject,
} from "../../db/queries/projects.ts";
import { selectUser } from "../../db/queries/users.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonBody, jsonResponse, protectedRoute } from "../openapi.ts";
import { accessOf, allowing, projectAllowing } from "./access.ts";
import { announce } from "./announce.ts";
import {
  CreateInvitationSchema,
  InvitationListSchema,
  InvitationSchema,
  ProjectIdParams,
  ProjectInvitationParams,
  toInvitationJson,
} from "./schemas.ts";

const createRoute = protectedRoute(
  "caller",
  {
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
  },
  { projectKeys: { param: "id" } },
);

const listRoute = protectedRoute(
  "caller",
  {
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
  },
  { projectKeys: { param: "id" } },
);

const revokeRoute = protectedRoute(
  "caller",
  {
    method: "delete",
    path: "/projects/{id}/invitations/{invitationId}",
    tags: ["Projects"],
    summary: "Revoke a pending invitation",
    description: "Owners and admins. 404 when there is no pending invitation of that id in the project.",
    request: { params: ProjectInvitationParams },
    responses: { 204: { description: "Revoked." }, ...problemResponses(400, 403, 404, 503) },
  },
  { projectKeys: { param: "id" } },
);

export const manageInvitations = createRouter()
  .openapi(createRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { login, role } = c.req.valid("json");
    const caller = callerOf(c);
    // The project as the caller sees it, then, as the system, the account the login names (users
    // are readable across accounts by staff only): one round trip.
    const [project, inviters, , invitees] = await asCaller(c).read((db) => [
      selectProject(db, { id, userId: caller.userId }),
      selectUser(db, { id: caller.userId }),
      actAs(db, SYSTEM),
      selectInvitee(db, { login, projectId: id }),
    ]);
    allowing(accessOf(c, id, project), "manage", { whileArchived: true });
    requireVerifiedEmail(firstRow(inviters), "invite people to a project");
    const invitee = firstRow(invitees);
    if (invitee?.status !== "active") {
      throw new ApiError("not_found", { detail: "No active user has that username or email." });
    }
    // Named by the login as given: an email never tells the inviter which username it belongs to.
    if (invitee.member) throw new ApiError("conflict", { detail: `${login} is already a member.` });
    const invitationId = crypto.randomUUID();
    const invitation = {
      id: invitationId,
      projectId: id,
      inviteeId: invitee.id,
      login,
      role,
      invitedBy: caller.userId,
    };
    const [, , , rows] = await asCaller(c)
      .write((db) => [
        revokeExpiredInvitationStatement(db, { projectId: id, inviteeId: invitee.id }),
        insertInvitationStatement(db, invitation),
        actAs(db, SYSTEM),
        selectInvitationRow(db, { id: invitationId }),
      ])
      .catch((error: unknown) => {
        if (uniqueViolation(error) !== "project_invitations_pending_key") throw error;
        throw new ApiError("conflict", { detail: `${login} already has a pending invitation to this project.` });
      });
    const created = firstRow(rows);
    if (!created) throw new Error("the invitation insert committed no row");
    await announce(c, [{ type: "project.member_invited", projectId: id, userId: invitee.id, role, invitationId }]);
    return c.json(toInvitationJson(created), 201);
  })
  .openapi(listRoute, async (c) => {
    const { id } = c.req.valid("param");
    const caller = callerOf(c);
    // The project and its invitations in one round trip; the query requires the caller to be an
    // owner or admin of it itself (an administrator: any).
    const [project, , rows] = await asCaller(c).read((db) => [
      selectProject(db, { id, userId: caller.userId }),
      actAs(db, SYSTEM),
      selectPendingInvitations(db, { projectId: id, viewerId: caller.role === "admin" ? undefined : caller.userId }),
    ]);
    allowing(accessOf(c, id, project), "manage", { whileArchived: true });
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
