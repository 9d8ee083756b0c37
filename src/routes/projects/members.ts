import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { actAs, firstRow, SYSTEM } from "../../db/actor.ts";
import {
  deleteMemberStatement,
  lockProjectMembersStatement,
  releaseMemberStatements,
  selectMember,
  selectMembers,
  selectProject,
  transferOwnershipStatements,
  updateMemberRoleStatement,
} from "../../db/queries/projects.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { mayChangeRole, type ProjectAbility, roleTooLow } from "../../projects/rules.ts";
import { jsonBody, jsonResponse, protectedRoute } from "../openapi.ts";
import { accessOf, allowing } from "./access.ts";
import { announce } from "./announce.ts";
import {
  MemberListSchema,
  MemberParams,
  MemberSchema,
  ProjectIdParams,
  RoleChangeSchema,
  TransferSchema,
  toMemberJson,
} from "./schemas.ts";

/** 403: row-level security refused a change the route let through, a role having changed meanwhile. */
const roleChanged = () =>
  new ApiError("forbidden", { detail: "Your role does not allow this change (it may have just changed)." });

const noMember = (userId: string) =>
  new ApiError("not_found", { detail: `${userId} is not a member of this project.` });

/**
 * The project as the caller may use it for `ability` (`projectAllowing`: 404, 403, 409 while
 * archived except for member management) and one member's row (undefined when `userId` is not a
 * member): one HTTP round trip.
 */
async function projectAndMember(c: Context<AppEnv>, projectId: string, userId: string, ability: ProjectAbility) {
  const caller = callerOf(c);
  const [rows, member] = await asCaller(c).read((db) => [
    selectProject(db, { id: projectId, userId: caller.userId }),
    selectMember(db, { projectId, userId }),
  ]);
  const access = allowing(accessOf(c, projectId, rows), ability, { whileArchived: true });
  return { access, target: firstRow(member) };
}

const listRoute = protectedRoute(
  "caller",
  {
    method: "get",
    path: "/projects/{id}/members",
    tags: ["Projects"],
    summary: "List a project's members",
    description: "Any member; owners first, then admins, editors and viewers, each by username.",
    request: { params: ProjectIdParams },
    responses: { 200: jsonResponse("The members.", MemberListSchema), ...problemResponses(400, 404, 503) },
  },
  { projectKeys: { param: "id" } },
);

const roleRoute = protectedRoute(
  "caller",
  {
    method: "patch",
    path: "/projects/{id}/members/{userId}",
    tags: ["Projects"],
    summary: "Change a member's role",
    description:
      "Owners change anyone to any role; admins change members who are not owners, to admin, editor or viewer. The last owner cannot be demoted (409): make another member an owner first. Allowed while the project is archived.",
    request: { params: MemberParams, body: jsonBody(RoleChangeSchema) },
    responses: { 200: jsonResponse("The member.", MemberSchema), ...problemResponses(400, 403, 404, 409, 415, 503) },
  },
  { projectKeys: { param: "id" } },
);

const removeRoute = protectedRoute(
  "caller",
  {
    method: "delete",
    path: "/projects/{id}/members/{userId}",
    tags: ["Projects"],
    summary: "Remove a member, or leave",
    description:
      "With the caller's own id: leaving (any member; the last owner cannot leave, 409). Otherwise owners remove anyone and admins remove members who are not owners. The removed member loses access to the project and its documents at once, including what they uploaded.",
    request: { params: MemberParams },
    responses: { 204: { description: "Removed." }, ...problemResponses(400, 403, 404, 409, 503) },
  },
  { projectKeys: { param: "id" } },
);

const transferRoute = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/projects/{id}/transfer",
    tags: ["Projects"],
    summary: "Transfer ownership to another member",
    description:
      "An owner makes another member an owner and becomes an admin in the same transaction. Other owners keep their role.",
    request: { params: ProjectIdParams, body: jsonBody(TransferSchema) },
    responses: {
      200: jsonResponse("The members after the transfer.", MemberListSchema),
      ...problemResponses(400, 403, 404, 409, 415, 503),
    },
  },
  { projectKeys: { param: "id" } },
);

export const manageMembers = createRouter()
  .openapi(listRoute, async (c) => {
    const { id } = c.req.valid("param");
    const caller = callerOf(c);
    // The project (for a non-member's 404) and, as the system, its members with their usernames,
    // which the query reads only for a member (an administrator: any): one round trip.
    const [project, , members] = await asCaller(c).read((db) => [
      selectProject(db, { id, userId: caller.userId }),
      actAs(db, SYSTEM),
      selectMembers(db, { projectId: id, viewerId: caller.role === "admin" ? undefined : caller.userId }),
    ]);
    accessOf(c, id, project);
    c.header("Cache-Control", "no-store");
    return c.json({ data: members.map(toMemberJson) }, 200);
  })
  .openapi(roleRoute, async (c) => {
    const { id, userId } = c.req.valid("param");
    const { role } = c.req.valid("json");
    const { access, target } = await projectAndMember(c, id, userId, "manage");
    if (!target) throw noMember(userId);
    if (!mayChangeRole(access.acting, target.role, role)) {
      throw new ApiError("forbidden", { detail: "Only an owner changes an owner's role or makes an owner." });
    }
    // Unchanged role: nothing is written. The last owner's demotion fails at commit (409). The
    // member is read back as the system in the same batch, for the answer.
    const [, changed, , members] = await asCaller(c).write((db) => [
      lockProjectMembersStatement(db, { projectId: id }),
      updateMemberRoleStatement(db, { projectId: id, userId, role }),
      actAs(db, SYSTEM),
      selectMembers(db, { projectId: id, viewerId: undefined }),
    ]);
    const member = members.find((m) => m.userId === userId);
    if (!member) throw noMember(userId);
    // Nothing written, and the member is not in that role: row-level security refused the change,
    // the caller's or the member's role having changed since the check above (another request's).
    if (changed.length === 0 && member.role !== role) throw roleChanged();
    if (changed.length > 0) {
      await announce(
        c,
        [{ type: "project.member_role_changed", projectId: id, userId, role, previousRole: target.role }],
        [userId],
      );
    }
    return c.json(toMemberJson(member), 200);
  })
  .openapi(removeRoute, async (c) => {
    const { id, userId } = c.req.valid("param");
    const caller = callerOf(c);
    const leaving = userId === caller.userId;
    const { access, target } = await projectAndMember(c, id, userId, "read");
    if (!target) throw noMember(userId);
    if (!leaving && !mayChangeRole(access.acting, target.role, "viewer")) {
      if (access.acting === "admin") throw new ApiError("forbidden", { detail: "Only an owner removes an owner." });
      throw roleTooLow("manage", access.role);
    }
    const [, removed] = await asCaller(c).write((db) => [
      lockProjectMembersStatement(db, { projectId: id }),
      deleteMemberStatement(db, { projectId: id, userId }),
      actAs(db, SYSTEM),
      ...releaseMemberStatements(db, { projectId: id, userId }),
    ]);
    // Nothing removed though they were a member: row-level security refused it (a role changed meanwhile).
    if (removed.length === 0) throw leaving ? noMember(userId) : roleChanged();
    await announce(c, [{ type: "project.member_removed", projectId: id, userId }], [userId]);
    return c.body(null, 204);
  })
  .openapi(transferRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { userId } = c.req.valid("json");
    const caller = callerOf(c);
    const { access, target } = await projectAndMember(c, id, userId, "own");
    if (access.role !== "owner")
      throw new ApiError("forbidden", { detail: "Only an owner who is a member transfers ownership." });
    if (userId === caller.userId) throw new ApiError("conflict", { detail: "You already own this project." });
    if (!target) throw noMember(userId);
    const [, to, from, , members] = await asCaller(c).write((db) => [
      lockProjectMembersStatement(db, { projectId: id }),
      ...transferOwnershipStatements(db, { projectId: id, fromUserId: caller.userId, toUserId: userId }),
      actAs(db, SYSTEM),
      selectMembers(db, { projectId: id, viewerId: undefined }),
    ]);
    if (to.length === 0) throw noMember(userId);
    const changes = [
      ...(target.role === "owner" ? [] : [{ userId, role: "owner" as const, previousRole: target.role }]),
      ...(from.length > 0 ? [{ userId: caller.userId, role: "admin" as const, previousRole: "owner" as const }] : []),
    ];
    await announce(
      c,
      changes.map((change) => ({ type: "project.member_role_changed" as const, projectId: id, ...change })),
      changes.map((change) => change.userId),
    );
    return c.json({ data: members.map(toMemberJson) }, 200);
  });
