import { type Actor, asActor, SYSTEM, switchActor, type Transaction } from "../db/actor.ts";
import { NoRowsAffectedError } from "../db/affected.ts";
import type { DatabaseHandle } from "../db/client.ts";
import { serverError } from "../db/errors.ts";
import { voidPendingTokens } from "../db/queries/account-tokens.ts";
import { type KeysRevocationReason, revokeUserCredentials } from "../db/queries/api-keys.ts";
import { type RequestOrigin, recordSecurityEvent, type SecurityEvent } from "../db/queries/audit.ts";
import { queuePrincipalSync, type SessionsWork } from "../db/queries/sessions-outbox.ts";
import {
  clearLockouts,
  deleteUser,
  getAccountStanding,
  getUserPermissions,
  getUserRole,
  grantPermission,
  listPermissions,
  lockDelegatedAdministration,
  lockPermissions,
  lockUser,
  type PublicUser,
  removeMfa,
  revokePermission,
  type UserChanges,
  updateUser,
} from "../db/queries/users.ts";
import { accountTokens } from "../db/schema/account-tokens.ts";
import type { LockoutBucket, Permission, UserPreferences, UserRole, UserStatus } from "../db/schema/users.ts";
import type { LoginThrottle } from "../durable-objects/login-throttle.ts";
import { ApiError } from "../pkg/errors/api-error.ts";
import { passwordHasher, syncPrincipal } from "./auth-service.ts";
import { type AccountChange, decideGrant, type Grantee, type Grantor, isCredentialChange } from "./grant-rules.ts";
import { checkNewPassword } from "./passwords.ts";
import { effectivePermissions } from "./permissions.ts";
import { takenField } from "./registration.ts";
import type { SessionLifetimes } from "./required-actions.ts";
import { clearAccountThrottle } from "./throttle.ts";
import { applyRevocation, type SessionsNamespace } from "./user-sessions.ts";

// Changing accounts: one's own profile, and the delegated administration of others' accounts
// under the grant rules (src/auth/grant-rules.ts). Each change runs in one WebSocket transaction
// that locks what it changes, so the request's preconditions and the grant rules are decided on
// the state it then writes.

/**
 * The request's preconditions (If-Match, If-Unmodified-Since) evaluated on `current`, the target
 * as locked in the writing transaction: throws `ApiError` 412 `precondition_failed` when they do
 * not hold (RFC 9110 §13.1.1, §13.1.4). The route builds it, since the validators are of the
 * representation it serves.
 */
export type Precondition<T> = (current: T) => Promise<void>;

/** What an account change needs: Postgres as the caller, and the users' SESSIONS objects. */
export interface AccountDeps {
  /** The WebSocket mode for the writing transaction; the HTTP mode for the sessions' resync. */
  database: Pick<DatabaseHandle, "db" | "http">;
  sessions: SessionsNamespace;
  /** The caller as row-level security sees them. */
  actor: Actor;
  /** The caller as their session knows them (as of the request's authentication): the first check. */
  grantor: Grantor;
  /** Where the request came from, for the security events the changes record. */
  origin: RequestOrigin;
  /** Staff session lifetimes (ms): a user who becomes staff has their live sessions shortened to them. */
  staffLifetimes?: SessionLifetimes | undefined;
}

/**
 * Records a delegated change's security event in its transaction (one statement), the caller as
 * its actor: the event commits, or rolls back, with the change.
 */
async function recordChange(
  tx: Transaction,
  deps: Pick<AccountDeps, "grantor" | "origin">,
  event: Pick<SecurityEvent, "action" | "targetUserId" | "details">,
): Promise<void> {
  await recordSecurityEvent(tx, { ...event, actorId: deps.grantor.userId, origin: deps.origin });
}

/** A profile change: profile fields as given, `preferences` as a merge patch (RFC 7396). */
export type ProfilePatch = { preferences?: UserPreferences | undefined } & Omit<UserChanges, "preferences">;

/** The 404 of a user the caller cannot see (or that does not exist). */
export const userNotFound = (id: string) => new ApiError("not_found", { detail: `No user ${id}.` });

/**
 * Throws `ApiError` 403 (the problem's `grantRule` naming the rule broken) unless the grant rules
 * let `grantor` make `change` to `grantee`. Called twice per change: before any work (the caller
 * as the session knows it, the target's role not yet known), and in the writing transaction with
 * the caller as the database holds it now and the target as locked.
 */
function authorizeChange(grantor: Grantor, grantee: Grantee, change: AccountChange): void {
  const decision = decideGrant(grantor, grantee, change);
  if (!decision.allowed) {
    throw new ApiError("forbidden", { detail: decision.reason, extensions: { grantRule: decision.rule } });
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

/** Applies `patch` to the user `current` (read in `tx`); the user unchanged when it changes nothing. */
async function applyProfile(
  tx: Transaction,
  current: PublicUser,
  patch: ProfilePatch,
): Promise<PublicUser | undefined> {
  const { preferences, ...rest } = patch;
  const changes: UserChanges = { ...rest };
  if (preferences) changes.preferences = mergePreferences(current.preferences, preferences);
  if (changes.email) {
    changes.email = changes.email.toLowerCase();
    // Grant rule "verification": the new address is unproven, so it cannot carry the old one's
    // verification (which OIDC linking by verified email trusts).
    if (changes.email !== current.email) changes.emailVerified = false;
  }
  return Object.keys(changes).length === 0 ? current : updateUser(tx, { id: current.id, changes });
}

/**
 * The caller as the database holds it now, read in the writing transaction after taking the
 * delegated-administration lock (first, before any row lock: one order for every delegated write,
 * so none deadlocks). The session's copy can be older than a change that committed after this
 * request was authenticated: two `users:manage` holders disabling each other at once both passed
 * the session check, and only this read lets the second see it was disabled. Throws 403 (grant
 * rule `function`) when the caller's account is gone or no longer active. OWASP API5.
 */
async function currentGrantor(tx: Transaction, userId: string): Promise<Grantor> {
  await lockDelegatedAdministration(tx);
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

/** Email and username are unique: a clash is a 409 naming the field. */
async function uniquely<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const field = takenField(error);
    if (!field) throw error;
    throw new ApiError("conflict", {
      detail: `That ${field} is already taken.`,
      errors: [{ in: "body", pointer: `/${field}`, message: "already taken" }],
    });
  }
}

/**
 * Locks the user's row in the writing transaction, checks the grant rules on it as locked (for a
 * delegated change: `rules` gives the caller as the database holds it now and the change), and
 * evaluates the request's preconditions on it (404 if there is no such user; 409 for a delegated
 * change of an account its owner deleted, which the sweeper is erasing): a concurrent writer
 * waits for the lock, then fails its own check. A 403 or 404 wins over a 412 (RFC 9110 §13.2.1).
 */
async function lockForWrite(
  tx: Transaction,
  target: { id: string; precondition: Precondition<PublicUser> },
  rules?: { grantor: Grantor; change: AccountChange },
): Promise<PublicUser> {
  const current = await lockUser(tx, { id: target.id });
  if (!current) throw userNotFound(target.id);
  if (rules && current.deletionRequestedAt) {
    // Enabled again, it would sign in while the sweeper erases it.
    throw new ApiError("conflict", {
      detail: "This account's owner deleted it (DELETE /users/me): it is being erased and takes no more changes.",
    });
  }
  if (rules) {
    // Rule "held" on credentials needs what the target holds (one more statement, only then).
    const permissions = isCredentialChange(rules.change) ? await getUserPermissions(tx, { id: current.id }) : undefined;
    authorizeChange(rules.grantor, { ...current, permissions }, rules.change);
  }
  await target.precondition(current);
  return current;
}

/**
 * Runs a delegated change of the account `id`: the grant rules checked first on the caller as the
 * session knows it (before any work), then `work` in one transaction as the caller, handed the
 * caller as the database holds it now (`currentGrantor`, after the delegated-administration lock)
 * to check them again on what it locks; the grant trigger refusing the write is a 403 too.
 */
async function delegated<T>(
  deps: AccountDeps,
  target: { id: string; change: AccountChange },
  work: (tx: Transaction, grantor: Grantor) => Promise<T>,
): Promise<T> {
  authorizeChange(deps.grantor, { id: target.id }, target.change);
  return guarded(() =>
    asActor(deps.database.db, deps.actor, async (tx) => {
      const result = await work(tx, await currentGrantor(tx, deps.grantor.userId));
      if (PRINCIPAL_CHANGES.has(target.change.kind)) {
        await queuePrincipalSync(tx, { userId: target.id, reason: "principal_changed" });
      }
      return result;
    }),
  );
}

/**
 * The changes the user's sessions must learn (`resync`): each queues a read of the principal in the
 * SESSIONS outbox in its transaction (one more statement), so that an unreachable SESSIONS object
 * after the commit delays them by minutes instead of losing them. A change of credentials queues its
 * own revocation instead (`revokeCredentialsInTransaction`).
 */
const PRINCIPAL_CHANGES: ReadonlySet<AccountChange["kind"]> = new Set(["role", "status", "delete", "permission"]);

/** Role, status and permission changes take effect at once: the user's sessions learn them. */
async function resync(deps: AccountDeps, id: string): Promise<void> {
  await syncPrincipal({ http: deps.database.http, sessions: deps.sessions, staffLifetimes: deps.staffLifetimes }, id);
}

/**
 * The caller changes their own profile and preferences (`PATCH /users/me`), under the row lock
 * and the request's preconditions.
 * @returns the user as changed. @throws 404 when the account is gone, 412 from `precondition`.
 */
export async function updateOwnProfile(
  deps: Pick<AccountDeps, "database" | "actor" | "grantor">,
  request: { patch: ProfilePatch; precondition: Precondition<PublicUser> },
): Promise<PublicUser> {
  const id = deps.grantor.userId;
  const user = await asActor(deps.database.db, deps.actor, async (tx) =>
    applyProfile(tx, await lockForWrite(tx, { id, precondition: request.precondition }), request.patch),
  );
  if (!user) throw userNotFound(id);
  return user;
}

/**
 * A delegated change of another user's profile, email, username or verification (`users:write`).
 * @returns the user as changed. @throws 403 (grant rules), 404, 409 (email or username taken), 412.
 */
export async function updateAccount(
  deps: AccountDeps,
  request: {
    id: string;
    patch: ProfilePatch;
    precondition: Precondition<PublicUser>;
    /** Told, once the change committed, that it moved the account's email (to notify the old address). */
    onEmailChanged?: ((change: { from: string; to: string }) => void) | undefined;
  },
): Promise<PublicUser> {
  const { id, patch, precondition } = request;
  const change: AccountChange = { kind: "attributes", fields: Object.keys(patch), emailVerified: patch.emailVerified };
  let moved: { from: string; to: string } | undefined;
  const user = await uniquely(() =>
    delegated(deps, { id, change }, async (tx, grantor) => {
      const current = await lockForWrite(tx, { id, precondition }, { grantor, change });
      // Recorded before the write, which a taken email or username can still refuse: the events
      // roll back with it.
      const { email, ...profile } = patch;
      const to = email?.toLowerCase();
      if (to !== undefined && to !== current.email) {
        moved = { from: current.email, to };
        await recordChange(tx, deps, {
          action: "user.email_changed",
          targetUserId: id,
          details: { from: current.email, to },
        });
      }
      const fields = Object.keys(profile);
      if (fields.length > 0) {
        await recordChange(tx, deps, { action: "user.profile_changed", targetUserId: id, details: { fields } });
      }
      return applyProfile(tx, current, patch);
    }),
  );
  if (!user) throw userNotFound(id);
  if (moved) request.onEmailChanged?.(moved);
  return user;
}

/**
 * A delegated change of a user's role or status (`users:manage`); the user's sessions learn it
 * before this returns. @returns the user as changed. @throws 403 (grant rules), 404, 412; 503
 * when the SESSIONS object is unreachable (the change is committed then, and the SESSIONS
 * outbox's cron applies it within minutes).
 */
export async function changeAccount(
  deps: AccountDeps,
  request: { id: string; set: { role: UserRole } | { status: UserStatus }; precondition: Precondition<PublicUser> },
): Promise<PublicUser> {
  const { id, set, precondition } = request;
  const change: AccountChange = "role" in set ? { kind: "role", role: set.role } : { kind: "status" };
  const user = await delegated(deps, { id, change }, async (tx, grantor) => {
    const current = await lockForWrite(tx, { id, precondition }, { grantor, change });
    const updated = await updateUser(tx, { id, changes: set });
    if ("role" in set && set.role !== current.role) {
      await recordChange(tx, deps, {
        action: "user.role_changed",
        targetUserId: id,
        details: { from: current.role, to: set.role },
      });
    }
    if ("status" in set && set.status !== current.status) {
      await recordChange(tx, deps, {
        action: set.status === "disabled" ? "user.disabled" : "user.enabled",
        targetUserId: id,
      });
    }
    return updated;
  });
  if (!user) throw userNotFound(id);
  await resync(deps, id);
  return user;
}

/**
 * Deletes a user (`users:manage`) and ends their sessions. @throws 403 (grant rules), 404, 412;
 * 503 when the SESSIONS object is unreachable (the deletion is committed then, and the SESSIONS
 * outbox's cron ends the sessions within minutes).
 */
export async function deleteAccount(
  deps: AccountDeps,
  request: { id: string; precondition: Precondition<PublicUser> },
): Promise<void> {
  const { id, precondition } = request;
  const change: AccountChange = { kind: "delete" };
  const deleted = await delegated(deps, { id, change }, async (tx, grantor) => {
    const current = await lockForWrite(tx, { id, precondition }, { grantor, change });
    // Who the account was, since the event outlives it.
    const details = { email: current.email, username: current.username };
    await recordChange(tx, deps, { action: "user.deleted", targetUserId: id, details });
    return deleteUser(tx, { id });
  });
  if (!deleted) throw userNotFound(id);
  await resync(deps, id);
}

/**
 * Grants or revokes one permission of an existing user (`permissions:manage`, reading only the
 * target's role), under the user's permissions lock and the request's preconditions on the list;
 * the user's sessions learn it before this returns. Granting one already held or revoking one not
 * held changes nothing. @returns the user's permissions now. @throws 403 (grant rules), 404, 412.
 */
export async function changePermission(
  deps: AccountDeps,
  request: {
    id: string;
    permission: Permission;
    operation: "grant" | "revoke";
    precondition: Precondition<Permission[]>;
  },
): Promise<Permission[]> {
  const { id, permission, precondition } = request;
  const change: AccountChange = { kind: "permission", permission };
  const permissions = await delegated(deps, { id, change }, async (tx, grantor) => {
    await lockPermissions(tx, { userId: id });
    // The target's role, whether or not the caller may read the user (permissions:manage alone).
    const role = await getUserRole(tx, { id });
    if (!role) throw userNotFound(id);
    authorizeChange(grantor, { id, role }, change);
    const held = await listPermissions(tx, { userId: id });
    await precondition(held);
    if (request.operation === "grant") {
      await grantPermission(tx, { userId: id, permission, grantedBy: deps.grantor.userId });
    } else {
      await revokePermission(tx, { userId: id, permission });
    }
    // Only a change is recorded: granting one held, or revoking one not held, changes nothing.
    if (held.includes(permission) !== (request.operation === "grant")) {
      const action = request.operation === "grant" ? "user.permission_granted" : "user.permission_revoked";
      await recordChange(tx, deps, { action, targetUserId: id, details: { permission } });
    }
    return listPermissions(tx, { userId: id });
  });
  await resync(deps, id);
  return permissions;
}

/**
 * An administrator sends a user a password reset link (`POST /users/{id}/password-reset`,
 * `users:manage` under the grant rules: never oneself, an admin only by an admin). The token
 * (`tokenHash` of what `mail` will carry) is stored and `user.password_reset_requested` recorded,
 * the administrator as its actor, in the transaction that locked the account; nothing else
 * changes until the link is used. Only active accounts get one. `deliver` queues the mail to the
 * address, last, inside that transaction: when the queue refuses it, the token and the event roll
 * back with it, so the log never says a link was sent that was not (a commit that fails after
 * the mail was queued leaves a link that does not work, and no event).
 * @returns the address the link goes to and when it expires. @throws 403 (grant rules), 404,
 *   409 when the account is disabled; what `deliver` throws (DependencyError, 503)
 */
export async function storeAdminPasswordReset(
  deps: AccountDeps,
  request: { id: string; tokenHash: string; ttlSeconds: number; origin: RequestOrigin },
  deliver: (email: string) => Promise<void>,
): Promise<{ email: string; expiresAt: Date }> {
  const { id } = request;
  // Never on oneself (one's own reset is `POST /auth/password-reset`), an admin's only by an
  // admin, an account holding a permission the caller lacks never (rule "held" on credentials).
  const change: AccountChange = { kind: "password_reset" };
  return delegated(deps, { id, change }, async (tx, grantor) => {
    const user = await lockForWrite(tx, { id, precondition: async () => {} }, { grantor, change });
    if (user.status !== "active") {
      throw new ApiError("conflict", { detail: "The account is disabled: enable it first." });
    }
    const expiresAt = new Date(Date.now() + request.ttlSeconds * 1000);
    // The tokens are the server's table: written as the system, in the same transaction.
    await switchActor(tx, SYSTEM);
    await tx.insert(accountTokens).values({
      userId: id,
      purpose: "reset_password",
      tokenHash: request.tokenHash,
      email: user.email,
      expiresAt,
    });
    await recordSecurityEvent(tx, {
      action: "user.password_reset_requested",
      actorId: grantor.userId,
      targetUserId: id,
      origin: request.origin,
      details: { by: "admin" },
    });
    await deliver(user.email);
    return { email: user.email, expiresAt };
  });
}

/**
 * What an administrator's recovery of an account (a temporary password, an MFA reset) voids with
 * it, in its transaction (as the system): the account's pending reset and change-of-address
 * tokens, and every API key (`api_key.revoked` per key, with `reason`): whoever took the account
 * over may have made them. Their live copies go with the sessions after the commit.
 */
async function revokeCredentialsInTransaction(
  tx: Transaction,
  target: { userId: string; actorId: string; origin: RequestOrigin },
  reason: KeysRevocationReason,
): Promise<SessionsWork> {
  await voidPendingTokens(tx, { userId: target.userId });
  const queued = await tx.execute<SessionsWork>(
    revokeUserCredentials({ ...target, revokedBy: target.actorId, reason }),
  );
  const work = queued.rows[0];
  if (!work) throw new NoRowsAffectedError("queueing the end of the sessions", 1, 0);
  return work;
}

/**
 * Sets a temporary password on another user's account (`PUT /users/{id}/password`, `users:manage`
 * under the grant rules): the account must change it at its next login (Keycloak's
 * `UPDATE_PASSWORD` required action: that session can do nothing else). The new hash, the flag and
 * the security event `user.temporary_password_set` commit in the writing transaction (the hash as
 * the server: only it writes hashes, migration 0018), with the voiding of pending reset and
 * change-of-address links and the revocation of every API key of the user; then every session of
 * the user ends and the keys' live copies go.
 * @throws 403 (grant rules), 404, 400 (the password contains the username), 412; 503 when the
 *   SESSIONS object is unreachable (the change is committed then; the outbox's cron applies it)
 */
export async function setTemporaryPassword(
  deps: AccountDeps & { pbkdf2Iterations: number },
  request: { id: string; password: string; precondition: Precondition<PublicUser> },
): Promise<void> {
  const { id, precondition } = request;
  const change: AccountChange = { kind: "password" };
  const passwordHash = await passwordHasher(deps.pbkdf2Iterations).hash(request.password);
  const work = await delegated(deps, { id, change }, async (tx, grantor) => {
    const current = await lockForWrite(tx, { id, precondition }, { grantor, change });
    checkNewPassword(request.password, current.username, "/password");
    await switchActor(tx, SYSTEM);
    const updated = await updateUser(tx, { id, changes: { passwordHash, passwordChangeRequired: true } });
    if (!updated) throw new NoRowsAffectedError("setting the temporary password", 1, 0);
    await recordChange(tx, deps, { action: "user.temporary_password_set", targetUserId: id });
    return revokeCredentialsInTransaction(
      tx,
      { userId: id, actorId: grantor.userId, origin: deps.origin },
      "temporary_password_set",
    );
  });
  await applyRevocation(deps.sessions, work);
  await resync(deps, id);
}

/**
 * Removes another user's second factor (`DELETE /users/{id}/mfa`, `users:manage` under the grant
 * rules): a lost authenticator. The enrolment (secret and recovery codes) goes, with the security
 * event `mfa.reset`, in the writing transaction, with the voiding of pending reset and
 * change-of-address links and the revocation of every API key of the user; then every session of
 * the user ends and the keys' live copies go. A staff
 * account must enrol again at its next login (`CONFIGURE_TOTP`).
 * @throws 403 (grant rules), 404, 409 (no second factor), 412; 503 when the SESSIONS object is
 *   unreachable (the change is committed then; the outbox's cron applies it)
 */
export async function resetMfa(
  deps: AccountDeps,
  request: { id: string; precondition: Precondition<PublicUser> },
): Promise<void> {
  const { id, precondition } = request;
  const change: AccountChange = { kind: "mfa_reset" };
  const work = await delegated(deps, { id, change }, async (tx, grantor) => {
    await lockForWrite(tx, { id, precondition }, { grantor, change });
    // Enrolments are their owner's and staff's (row-level security): the grant rules decided above.
    await switchActor(tx, SYSTEM);
    if (!(await removeMfa(tx, { userId: id }))) {
      throw new ApiError("conflict", { detail: "This user has no second factor." });
    }
    await recordSecurityEvent(tx, {
      action: "mfa.reset",
      actorId: grantor.userId,
      targetUserId: id,
      origin: deps.origin,
    });
    return revokeCredentialsInTransaction(
      tx,
      { userId: id, actorId: grantor.userId, origin: deps.origin },
      "mfa_reset",
    );
  });
  await applyRevocation(deps.sessions, work);
  await resync(deps, id);
}

/**
 * Unlocks another user's account (`POST /users/{id}/unlock`, `users:manage` under the grant
 * rules): the counted attempts of its password and second-factor LOGIN_THROTTLE buckets are
 * forgotten and its lock-out records removed, with the security event `user.unlocked`, in the
 * writing transaction (the buckets are cleared inside it: if they cannot be reached, nothing is
 * recorded). Its client addresses' buckets are not touched: they are not the account's.
 * @returns the lock-out records removed (`password`, `second_factor`; empty when none was recorded)
 * @throws 403 (grant rules), 404; 503 when the throttle is unreachable
 */
export async function unlockAccount(
  deps: AccountDeps & { throttle: DurableObjectNamespace<LoginThrottle> },
  request: { id: string },
): Promise<LockoutBucket[]> {
  const { id } = request;
  const change: AccountChange = { kind: "unlock" };
  return delegated(deps, { id, change }, async (tx, grantor) => {
    await lockForWrite(tx, { id, precondition: async () => {} }, { grantor, change });
    await switchActor(tx, SYSTEM);
    const cleared = await clearLockouts(tx, { userId: id });
    await recordChange(tx, deps, {
      action: "user.unlocked",
      targetUserId: id,
      details: { buckets: cleared.map((row) => row.bucket) },
    });
    await clearAccountThrottle(deps.throttle, id);
    return cleared.map((row) => row.bucket);
  });
}
