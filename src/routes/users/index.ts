import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { syncPrincipal } from "../../auth/auth-service.ts";
import {
  type AccountChange,
  decideGrant,
  type Grantee,
  type Grantor,
  REQUIRED_PERMISSION,
} from "../../auth/grant-rules.ts";
import { effectivePermissions } from "../../auth/permissions.ts";
import { registerAccount } from "../../auth/registration.ts";
import { type Actor, asActor, batchAsActor, firstRow, READ_ONLY, type Transaction } from "../../db/actor.ts";
import { serverError, uniqueViolation } from "../../db/errors.ts";
import {
  deleteUser,
  getAccountStanding,
  getUser,
  getUserRole,
  grantPermission,
  listPermissions,
  lockDelegatedAdministration,
  lockPermissions,
  lockUser,
  type PublicUser,
  permissionsOf,
  revokePermission,
  selectPermissions,
  selectUser,
  selectUsersPage,
  type UserChanges,
  updateUser,
  usersPage,
} from "../../db/queries/users.ts";
import type { Permission, UserPreferences } from "../../db/schema/users.ts";
import { requireAuth, requirePermission } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { cursorParam, pageOf } from "../../pkg/pagination/cursor.ts";
import {
  ConditionalReadHeaders,
  ConditionalWriteHeaders,
  readPreconditions,
  requireWritePreconditions,
  VALIDATOR_HEADERS,
  validatorHeaders,
  validatorsOf,
} from "../conditional.ts";
import { BEARER } from "../openapi.ts";
import {
  AdminUserPatchSchema,
  ListUsersQuery,
  PermissionParams,
  PermissionsSchema,
  ProfilePatchSchema,
  RegisterSchema,
  RoleSchema,
  toUserJson,
  UserIdParams,
  UserPageSchema,
  UserSchema,
} from "./schemas.ts";

const json = (schema: typeof UserSchema, description: string) => ({
  description,
  content: { "application/json": { schema } },
});
const jsonBody = <S>(schema: S) => ({ required: true, content: { "application/json": { schema } } });
/** A response carrying one user, with the user's ETag and Last-Modified. */
const userJson = (description: string) => ({ ...json(UserSchema, description), headers: VALIDATOR_HEADERS });
const NOT_MODIFIED = {
  description: "Unchanged (If-None-Match, or If-Modified-Since without it).",
  headers: VALIDATOR_HEADERS,
};
const CONDITIONAL =
  " With `If-Match` (the user's ETag) or `If-Unmodified-Since`, only if the user has not changed since: otherwise 412 and nothing changes.";
/** The grant rules (src/auth/grant-rules.ts), as every delegated route states them. */
const GRANT_RULES =
  " Grant rules (403 otherwise, the problem's `grantRule` naming the rule broken: `self`, `held`, `admins`, `verification`): never on your own account; only an admin changes an admin's account or grants `admin`; a permission only by someone who holds it.";

/** Email and username are unique: a clash is a 409 naming the field. */
async function uniquely<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const constraint = uniqueViolation(error);
    if (constraint === "users_email_key" || constraint === "users_username_key") {
      const field = constraint === "users_email_key" ? "email" : "username";
      throw new ApiError("conflict", {
        detail: `That ${field} is already taken.`,
        errors: [{ in: "body", pointer: `/${field}`, message: "already taken" }],
      });
    }
    throw error;
  }
}

/** JSON merge patch (RFC 7396) one level deep: keys set to null are removed. */
function mergePreferences(current: UserPreferences, patch: UserPreferences): UserPreferences {
  const merged: UserPreferences = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

async function applyProfile(
  tx: Transaction,
  id: string,
  patch: { preferences?: UserPreferences | undefined } & Omit<UserChanges, "preferences">,
): Promise<PublicUser | undefined> {
  const { preferences, ...rest } = patch;
  const changes: UserChanges = { ...rest };
  const current = await getUser(tx, { id });
  if (!current) return undefined;
  if (preferences) changes.preferences = mergePreferences(current.preferences, preferences);
  if (changes.email) {
    changes.email = changes.email.toLowerCase();
    // Grant rule "verification": the new address is unproven, so it cannot carry the old one's
    // verification (which OIDC linking by verified email trusts).
    if (changes.email !== current.email) changes.emailVerified = false;
  }
  return Object.keys(changes).length === 0 ? current : updateUser(tx, { id, changes });
}

const db = (c: Context<AppEnv>) => c.get("services").database.db;
const http = (c: Context<AppEnv>) => c.get("services").database.http;
const actorOf = (c: Context<AppEnv>): Actor => c.get("auth").actor;
const notFound = (id: string) => new ApiError("not_found", { detail: `No user ${id}.` });

/**
 * Throws 403 unless the grant rules (src/auth/grant-rules.ts) let `grantor` make `change` to
 * `grantee`. Called twice per change: by the handler before any work (the caller as the session
 * knows it, the target's role not yet known), and in the writing transaction with the caller as
 * the database holds it now (`currentGrantor`) and the target as locked.
 */
function authorizeChange(grantor: Grantor, grantee: Grantee, change: AccountChange): void {
  const decision = decideGrant(grantor, grantee, change);
  if (!decision.allowed) {
    throw new ApiError("forbidden", { detail: decision.reason, extensions: { grantRule: decision.rule } });
  }
}

/** The caller as the session knows it (role and permissions as of the request's authentication). */
function sessionGrantor(c: Context<AppEnv>): Grantor {
  const { userId, role, permissions } = c.get("auth");
  return { userId, role, permissions };
}

/**
 * The caller as the database holds it now, read in the writing transaction after taking the
 * delegated-administration lock (first, before any row lock: one order for every delegated write,
 * so none deadlocks). The session's copy can be older than a change that committed after this
 * request was authenticated: two `users:manage` holders disabling each other at once both passed
 * the session check, and only this read lets the second see it was disabled. Throws 403 (grant
 * rule `function`) when the caller's account is gone or no longer active. OWASP API5.
 */
async function currentGrantor(c: Context<AppEnv>, tx: Transaction): Promise<Grantor> {
  await lockDelegatedAdministration(tx);
  const { userId } = c.get("auth");
  const standing = await getAccountStanding(tx, { id: userId });
  if (standing?.status !== "active") {
    throw new ApiError("forbidden", {
      detail: "Your account is no longer active.",
      extensions: { grantRule: "function" },
    });
  }
  return { userId, role: standing.role, permissions: effectivePermissions(standing) };
}

/**
 * Runs a delegated change; the database's grant trigger refusing it (SQLSTATE 42501,
 * insufficient_privilege) is a 403 like the checks above it, which should have caught it first.
 */
async function guarded<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (serverError(error)?.code === "42501") {
      throw new ApiError("forbidden", { detail: "The grant rules do not allow this change." });
    }
    throw error;
  }
}

/**
 * A user's validators (RFC 9110 §8.8): a strong ETag of the JSON representation (which carries
 * `updatedAt`, so every change to the row changes it) and `updatedAt` as Last-Modified.
 */
const userValidators = (user: PublicUser) => validatorsOf(toUserJson(user), user.updatedAt);

/** The user's JSON with its validators, as every response naming one user sends it. */
async function userBody(user: PublicUser) {
  return { body: toUserJson(user), headers: validatorHeaders(await userValidators(user)) };
}

/**
 * Locks the user's row in the writing transaction, checks the grant rules against it as locked
 * and against the caller as the database holds it now (when `change` is given: delegated routes,
 * which then take the delegated-administration lock first), and throws 412 unless the request's If-Match /
 * If-Unmodified-Since hold for it now (404 if there is no such user): a concurrent writer waits
 * for the lock, then fails its own check. A 403 or 404 wins over a 412 (RFC 9110 §13.2.1).
 */
async function lockedForWrite(c: Context<AppEnv>, tx: Transaction, id: string, change?: AccountChange): Promise<void> {
  const grantor = change ? await currentGrantor(c, tx) : undefined;
  const current = await lockUser(tx, { id });
  if (!current) throw notFound(id);
  if (grantor && change) authorizeChange(grantor, current, change);
  requireWritePreconditions(c, await userValidators(current));
}

/** Role, status and permission changes take effect at once: the user's sessions learn them. */
async function resync(c: Context<AppEnv>, id: string): Promise<void> {
  await syncPrincipal({ http: http(c), sessions: c.env.SESSIONS }, id);
}

async function changeAccount(
  c: Context<AppEnv>,
  id: string,
  changes: UserChanges,
  change: AccountChange,
): Promise<PublicUser> {
  authorizeChange(sessionGrantor(c), { id }, change);
  const user = await guarded(() =>
    asActor(db(c), actorOf(c), async (tx) => {
      await lockedForWrite(c, tx, id, change);
      return updateUser(tx, { id, changes });
    }),
  );
  if (!user) throw notFound(id);
  await resync(c, id);
  return user;
}

/** Applies a permission change to an existing user and returns their permissions now. */
async function changePermissions(
  c: Context<AppEnv>,
  id: string,
  permission: Permission,
  apply: (tx: Transaction) => Promise<unknown>,
): Promise<Permission[]> {
  const change: AccountChange = { kind: "permission", permission };
  authorizeChange(sessionGrantor(c), { id }, change);
  const permissions = await guarded(() =>
    asActor(db(c), actorOf(c), async (tx) => {
      const grantor = await currentGrantor(c, tx);
      await lockPermissions(tx, { userId: id });
      // The target's role, whether or not the caller may read the user (permissions:manage alone).
      const role = await getUserRole(tx, { id });
      if (!role) throw notFound(id);
      authorizeChange(grantor, { id, role }, change);
      requireWritePreconditions(c, await validatorsOf({ permissions: await listPermissions(tx, { userId: id }) }));
      await apply(tx);
      return listPermissions(tx, { userId: id });
    }),
  );
  await resync(c, id);
  return permissions;
}

const register = createRoute({
  method: "post",
  path: "/users",
  tags: ["Users"],
  summary: "Register",
  description:
    "Creates an account with the `user` role. The answer is the same whether or not the email or username is already taken (OWASP: no account enumeration): 201 with an account's shape either way. A taken email or username creates nothing; the answer then describes an account that does not exist, and the owner of the existing one is told (until the accounts work, the attempt is logged). Email and username are unique case-insensitively.",
  request: { body: jsonBody(RegisterSchema) },
  responses: {
    201: json(UserSchema, "The new user (or, when the email or username is taken, a stand-in of the same shape)."),
    ...problemResponses(400, 415, 429, 503),
  },
});

const getMe = createRoute({
  method: "get",
  path: "/users/me",
  tags: ["Users"],
  summary: "My profile and preferences",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { headers: ConditionalReadHeaders },
  responses: {
    200: userJson("The caller, with `ETag` and `Last-Modified`."),
    304: NOT_MODIFIED,
    ...problemResponses(401, 412, 503),
  },
});

const patchMe = createRoute({
  method: "patch",
  path: "/users/me",
  tags: ["Users"],
  summary: "Update my profile and preferences",
  description: `Only profile fields and preferences; anything else (role, status, email) is refused with 400.${CONDITIONAL}`,
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { headers: ConditionalWriteHeaders, body: jsonBody(ProfilePatchSchema) },
  responses: { 200: userJson("The updated user."), ...problemResponses(400, 401, 412, 415, 503) },
});

const list = createRoute({
  method: "get",
  path: "/users",
  tags: ["Users (admin)"],
  summary: "List users",
  description:
    "Newest first, keyset-paginated (`nextCursor`); filter by role, status, or part of the email or username.",
  security: BEARER,
  middleware: [requirePermission("users:read")] as const,
  request: { query: ListUsersQuery },
  responses: {
    200: { description: "A page of users.", content: { "application/json": { schema: UserPageSchema } } },
    ...problemResponses(400, 401, 403, 503),
  },
});

const getOne = createRoute({
  method: "get",
  path: "/users/{id}",
  tags: ["Users (admin)"],
  summary: "A user",
  security: BEARER,
  middleware: [requirePermission("users:read")] as const,
  request: { params: UserIdParams, headers: ConditionalReadHeaders },
  responses: {
    200: userJson("The user, with `ETag` and `Last-Modified`."),
    304: NOT_MODIFIED,
    ...problemResponses(400, 401, 403, 404, 412, 503),
  },
});

const patchOne = createRoute({
  method: "patch",
  path: "/users/{id}",
  tags: ["Users (admin)"],
  summary: "Update a user's profile, email or username",
  description: `A new email is unverified (\`emailVerified\` becomes false); only an admin sets \`emailVerified: true\`, and not together with a new email. Your own email, username and verification are not changed here.${GRANT_RULES}${CONDITIONAL}`,
  security: BEARER,
  middleware: [requirePermission(REQUIRED_PERMISSION.attributes)] as const,
  request: { params: UserIdParams, headers: ConditionalWriteHeaders, body: jsonBody(AdminUserPatchSchema) },
  responses: {
    200: userJson("The updated user."),
    ...problemResponses(400, 401, 403, 404, 409, 412, 415, 503),
  },
});

const changeRole = createRoute({
  method: "put",
  path: "/users/{id}/role",
  tags: ["Users (admin)"],
  summary: "Change a user's role",
  description: `Takes effect on the user's next request (sessions carry the current role).${GRANT_RULES}${CONDITIONAL}`,
  security: BEARER,
  middleware: [requirePermission(REQUIRED_PERMISSION.role)] as const,
  request: { params: UserIdParams, headers: ConditionalWriteHeaders, body: jsonBody(RoleSchema) },
  responses: { 200: userJson("The updated user."), ...problemResponses(400, 401, 403, 404, 412, 415, 503) },
});

const disable = createRoute({
  method: "post",
  path: "/users/{id}/disable",
  tags: ["Users (admin)"],
  summary: "Disable a user (ends all their sessions)",
  description: `${GRANT_RULES.trim()}${CONDITIONAL}`,
  security: BEARER,
  middleware: [requirePermission(REQUIRED_PERMISSION.status)] as const,
  request: { params: UserIdParams, headers: ConditionalWriteHeaders },
  responses: { 200: userJson("The disabled user."), ...problemResponses(400, 401, 403, 404, 412, 503) },
});

const enable = createRoute({
  method: "post",
  path: "/users/{id}/enable",
  tags: ["Users (admin)"],
  summary: "Enable a disabled user",
  description: `${GRANT_RULES.trim()}${CONDITIONAL}`,
  security: BEARER,
  middleware: [requirePermission(REQUIRED_PERMISSION.status)] as const,
  request: { params: UserIdParams, headers: ConditionalWriteHeaders },
  responses: { 200: userJson("The enabled user."), ...problemResponses(400, 401, 403, 404, 412, 503) },
});

const remove = createRoute({
  method: "delete",
  path: "/users/{id}",
  tags: ["Users (admin)"],
  summary: "Delete a user (and end their sessions)",
  description: `${GRANT_RULES.trim()}${CONDITIONAL}`,
  security: BEARER,
  middleware: [requirePermission(REQUIRED_PERMISSION.delete)] as const,
  request: { params: UserIdParams, headers: ConditionalWriteHeaders },
  responses: { 204: { description: "Deleted." }, ...problemResponses(400, 401, 403, 404, 412, 503) },
});

const PERMISSIONS_ETAG = {
  ETag: {
    description: "Strong entity tag of the permission list; send it in If-Match to change it conditionally.",
    schema: { type: "string" as const },
  },
};

const getPermissions = createRoute({
  method: "get",
  path: "/users/{id}/permissions",
  tags: ["Users (admin)"],
  summary: "A user's granted permissions",
  security: BEARER,
  middleware: [requirePermission("users:read")] as const,
  request: { params: UserIdParams, headers: ConditionalReadHeaders },
  responses: {
    200: {
      description: "Granted permissions, with a strong `ETag` of the list for conditional changes.",
      headers: PERMISSIONS_ETAG,
      content: { "application/json": { schema: PermissionsSchema } },
    },
    304: { description: "Unchanged (If-None-Match).", headers: PERMISSIONS_ETAG },
    ...problemResponses(400, 401, 403, 404, 412, 503),
  },
});

/** Granting and revoking share a shape: PUT adds the permission, DELETE removes it. */
const permissionChange = (method: "put" | "delete", summary: string) =>
  createRoute({
    method,
    path: "/users/{id}/permissions/{permission}",
    tags: ["Users (admin)"],
    summary,
    description: `${GRANT_RULES.trim()} With \`If-Match\` (the ETag of \`GET /users/{id}/permissions\`), only if the permissions have not changed since: otherwise 412 and nothing changes.`,
    security: BEARER,
    middleware: [requirePermission(REQUIRED_PERMISSION.permission)] as const,
    request: { params: PermissionParams, headers: ConditionalWriteHeaders },
    responses: {
      200: {
        description: "The user's permissions now, with the list's new `ETag`.",
        headers: PERMISSIONS_ETAG,
        content: { "application/json": { schema: PermissionsSchema } },
      },
      ...problemResponses(400, 401, 403, 404, 412, 503),
    },
  });

const grant = permissionChange("put", "Grant a permission");
const revoke = permissionChange("delete", "Revoke a permission");

export const usersRouter = createRouter()
  .openapi(register, async (c) => {
    const body = c.req.valid("json");
    const deps = {
      db: db(c),
      pbkdf2Iterations: c.get("services").config.auth.pbkdf2Iterations,
      logger: c.get("logger"),
    };
    const user = await registerAccount(deps, body);
    return c.json(toUserJson(user), 201, { Location: `/users/${user.id}` });
  })
  .openapi(getMe, async (c) => {
    const { userId } = c.get("auth");
    const [rows] = await batchAsActor(http(c), actorOf(c), (db) => [selectUser(db, { id: userId })], READ_ONLY);
    const user = firstRow(rows);
    if (!user) throw notFound(userId);
    const validators = await userValidators(user);
    const notModified = readPreconditions(c, validators);
    if (notModified) return notModified;
    return c.json(toUserJson(user), 200, validatorHeaders(validators));
  })
  .openapi(patchMe, async (c) => {
    const { userId } = c.get("auth");
    const user = await asActor(db(c), actorOf(c), async (tx) => {
      await lockedForWrite(c, tx, userId);
      return applyProfile(tx, userId, c.req.valid("json"));
    });
    if (!user) throw notFound(userId);
    const { body, headers } = await userBody(user);
    return c.json(body, 200, headers);
  })
  .openapi(list, async (c) => {
    const query = c.req.valid("query");
    const after = cursorParam(query.cursor);
    const [rows] = await batchAsActor(
      http(c),
      actorOf(c),
      (db) => [
        selectUsersPage(db, {
          limit: query.limit,
          role: query.role,
          status: query.status,
          search: query.search,
          after,
        }),
      ],
      READ_ONLY,
    );
    const { page, nextCursor } = pageOf(usersPage(rows), query.limit);
    return c.json({ data: page.map(toUserJson), nextCursor }, 200);
  })
  .openapi(getOne, async (c) => {
    const { id } = c.req.valid("param");
    const [rows] = await batchAsActor(http(c), actorOf(c), (db) => [selectUser(db, { id })], READ_ONLY);
    const user = firstRow(rows);
    if (!user) throw notFound(id);
    const validators = await userValidators(user);
    const notModified = readPreconditions(c, validators);
    if (notModified) return notModified;
    return c.json(toUserJson(user), 200, validatorHeaders(validators));
  })
  .openapi(patchOne, async (c) => {
    const { id } = c.req.valid("param");
    const patch = c.req.valid("json");
    const change: AccountChange = {
      kind: "attributes",
      fields: Object.keys(patch),
      emailVerified: patch.emailVerified,
    };
    authorizeChange(sessionGrantor(c), { id }, change);
    const user = await guarded(() =>
      uniquely(() =>
        asActor(db(c), actorOf(c), async (tx) => {
          await lockedForWrite(c, tx, id, change);
          return applyProfile(tx, id, patch);
        }),
      ),
    );
    if (!user) throw notFound(id);
    const { body, headers } = await userBody(user);
    return c.json(body, 200, headers);
  })
  .openapi(changeRole, async (c) => {
    const { id } = c.req.valid("param");
    const { role } = c.req.valid("json");
    const { body, headers } = await userBody(await changeAccount(c, id, { role }, { kind: "role", role }));
    return c.json(body, 200, headers);
  })
  .openapi(disable, async (c) => {
    const { id } = c.req.valid("param");
    const { body, headers } = await userBody(await changeAccount(c, id, { status: "disabled" }, { kind: "status" }));
    return c.json(body, 200, headers);
  })
  .openapi(enable, async (c) => {
    const { id } = c.req.valid("param");
    const { body, headers } = await userBody(await changeAccount(c, id, { status: "active" }, { kind: "status" }));
    return c.json(body, 200, headers);
  })
  .openapi(remove, async (c) => {
    const { id } = c.req.valid("param");
    const change: AccountChange = { kind: "delete" };
    authorizeChange(sessionGrantor(c), { id }, change);
    const deleted = await guarded(() =>
      asActor(db(c), actorOf(c), async (tx) => {
        await lockedForWrite(c, tx, id, change);
        return deleteUser(tx, { id });
      }),
    );
    if (!deleted) throw notFound(id);
    await resync(c, id);
    return c.body(null, 204);
  })
  .openapi(getPermissions, async (c) => {
    const { id } = c.req.valid("param");
    // Both in one batch: the list is served only if the caller may read the user.
    const [user, granted] = await batchAsActor(
      http(c),
      actorOf(c),
      (db) => [selectUser(db, { id }), selectPermissions(db, { userId: id })],
      READ_ONLY,
    );
    if (!firstRow(user)) throw notFound(id);
    const permissions = permissionsOf(granted);
    const validators = await validatorsOf({ permissions });
    const notModified = readPreconditions(c, validators);
    if (notModified) return notModified;
    return c.json({ permissions }, 200, validatorHeaders(validators));
  })
  .openapi(grant, async (c) => {
    const { id, permission } = c.req.valid("param");
    const grantedBy = c.get("auth").userId;
    const permissions = await changePermissions(c, id, permission as Permission, (tx) =>
      grantPermission(tx, { userId: id, permission: permission as Permission, grantedBy }),
    );
    return c.json({ permissions }, 200, validatorHeaders(await validatorsOf({ permissions })));
  })
  .openapi(revoke, async (c) => {
    const { id, permission } = c.req.valid("param");
    const permissions = await changePermissions(c, id, permission as Permission, (tx) =>
      revokePermission(tx, { userId: id, permission: permission as Permission }),
    );
    return c.json({ permissions }, 200, validatorHeaders(await validatorsOf({ permissions })));
  });
