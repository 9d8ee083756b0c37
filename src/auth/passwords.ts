import { batchAsActor, firstRow, READ_ONLY, SYSTEM } from "../db/actor.ts";
import { NoRowsAffectedError } from "../db/affected.ts";
import type { HttpDatabase } from "../db/client.ts";
import { voidPendingTokens } from "../db/queries/account-tokens.ts";
import { revokeUserCredentials } from "../db/queries/api-keys.ts";
import { type RequestOrigin, recordSecurityEvent } from "../db/queries/audit.ts";
import type { SessionsWork } from "../db/queries/sessions-outbox.ts";
import { recordUserChanges, selectCredentials, selectMfa, selectPermissions } from "../db/queries/users.ts";
import type { LoginThrottle } from "../durable-objects/login-throttle.ts";
import { ApiError, invalidField } from "../pkg/errors/api-error.ts";
import { type AuthDeps, passwordHasher, principalOf } from "./auth-service.ts";
import { type Background, buckets, lockoutLog, throttledAttempt } from "./throttle.ts";
import { applyRevocation } from "./user-sessions.ts";

/**
 * The password rule the schemas cannot check alone (registration's, for every new password): it
 * must not contain the username, compared case-insensitively. Length (12–256) is the schema's.
 * @throws ApiError `validation_failed` (400) naming `pointer` when it does
 */
export function checkNewPassword(password: string, username: string, pointer: string): void {
  if (password.toLowerCase().includes(username.toLowerCase())) {
    throw invalidField("body", pointer, "must not contain the username");
  }
}

/** What checking the caller's current password needs. */
export interface CurrentPasswordDeps {
  http: HttpDatabase;
  throttle: DurableObjectNamespace<LoginThrottle>;
  /** Where lock-outs are recorded, after the answer (`LockoutLog`). */
  background: Background;
  /** The client's address, as the rate limiter keys it. */
  clientIp: string;
  pbkdf2Iterations: number;
}

/**
 * Checks the caller's current password before a change that needs it (their password, their
 * email; ASVS 4.0.3 V2.1.6 and V3.7.1), the one way for every such change: the account is read in
 * one HTTP round trip, then the password checked as one login attempt is (counted in the
 * account's and the address's LOGIN_THROTTLE buckets before it is checked, so a stolen access
 * token gets no more guesses than the login form; lock-outs recorded for GET /users/locked).
 * Postgres: 1 round trip. Durable Object calls: 2 reservations and 2 settlements, in parallel pairs.
 * @returns the account (id, username, email, status, password hash: never to leave the service)
 * @throws ApiError 403 `forbidden` for a wrong password, 429 `rate_limited` (Retry-After) while
 *   the account or address is throttled, 404 when the account is gone; DependencyError (503) for
 *   the throttle or the database
 */
export async function checkCurrentPassword(deps: CurrentPasswordDeps, check: { userId: string; password: string }) {
  const [rows] = await batchAsActor(
    deps.http,
    SYSTEM,
    (db) => [selectCredentials(db, { id: check.userId })],
    READ_ONLY,
  );
  const account = firstRow(rows);
  if (!account) throw new ApiError("not_found", { detail: "Your account no longer exists." });
  const hasher = passwordHasher(deps.pbkdf2Iterations);
  const attempt = {
    buckets: [buckets.account(account.id), buckets.client(deps.clientIp)],
    refuse: (seconds: number) =>
      new ApiError("rate_limited", {
        detail: `Too many wrong passwords; wait ${seconds} s.`,
        headers: { "Retry-After": String(seconds) },
      }),
    lockouts: lockoutLog(deps.http, deps.background),
  };
  const verified = await throttledAttempt(deps.throttle, attempt, async () =>
    (await hasher.verify(check.password, account.passwordHash)).valid ? true : undefined,
  );
  // A 403, not a 400: the request is well-formed, the proof of identity it carries is refused.
  if (!verified) throw new ApiError("forbidden", { detail: "The current password is wrong." });
  return account;
}

/** A signed-in user changing their own password, from the session `sessionId`. */
export interface OwnPasswordChange {
  userId: string;
  sessionId: string;
  currentPassword: string;
  newPassword: string;
  origin: RequestOrigin;
}

/**
 * Changes the caller's password (`POST /users/me/password`). The current password is checked as a
 * login attempt is (ASVS 4.0.3 V2.1.6 needs it; counted in the account's and the address's
 * LOGIN_THROTTLE buckets before it is checked, so a stolen access token gets no more guesses than
 * the login form); the new one follows registration's rules. The new hash, the end of a pending
 * `UPDATE_PASSWORD` required action and the security event `user.password_changed` are one HTTP
 * batch, with the voiding of the account's pending mailed tokens (a reset or change-of-address link
 * an intruder may hold) and the revocation of every API key of the user (`api_key.revoked`,
 * `reason: password_changed`, per key) and the queueing of the end of the user's other sessions in
 * the SESSIONS outbox; then every other session of the user ends (ASVS V3.3.3) and the keys' live
 * copies go, this session stays, with the required action gone (`applyRevocation`).
 *
 * Postgres: 2 round trips (the credentials; the change). Durable Object calls: 2 reservations and
 * 2 settlements in parallel pairs, 1 to the user's SESSIONS object.
 * @returns how many other sessions ended
 * @throws ApiError 403 `forbidden` for a wrong current password, 400 `validation_failed` for a new
 *   one containing the username or equal to the current one (at `/newPassword`), 429 `rate_limited`
 *   (Retry-After) while the account or address is throttled, 404 when the account is gone;
 *   DependencyError (503) for the throttle, the database or the SESSIONS object (after the
 *   commit, the outbox's cron ends the other sessions within minutes)
 */
export async function changeOwnPassword(
  deps: Pick<AuthDeps, "config" | "http" | "sessions" | "throttle" | "client" | "background">,
  change: OwnPasswordChange,
): Promise<number> {
  const account = await checkCurrentPassword(
    { ...deps, clientIp: deps.client.ip, pbkdf2Iterations: deps.config.auth.pbkdf2Iterations },
    { userId: change.userId, password: change.currentPassword },
  );
  checkNewPassword(change.newPassword, account.username, "/newPassword");
  if (change.newPassword === change.currentPassword) {
    throw invalidField("body", "/newPassword", "must differ from the current password");
  }

  const passwordHash = await passwordHasher(deps.config.auth.pbkdf2Iterations).hash(change.newPassword);
  const [updated, granted, mfa, , , revoked] = await batchAsActor(deps.http, SYSTEM, (db) => [
    recordUserChanges(db, { id: account.id, changes: { passwordHash, passwordChangeRequired: false } }),
    selectPermissions(db, { userId: account.id }),
    selectMfa(db, { userId: account.id }),
    recordSecurityEvent(db, {
      action: "user.password_changed",
      actorId: account.id,
      targetUserId: account.id,
      origin: change.origin,
    }),
    voidPendingTokens(db, { userId: account.id }),
    db.execute<SessionsWork>(
      revokeUserCredentials({
        userId: account.id,
        revokedBy: account.id,
        actorId: account.id,
        reason: "password_changed",
        keepSessionId: change.sessionId,
        origin: change.origin,
      }),
    ),
  ]);
  const user = firstRow(updated);
  const work = firstRow(revoked.rows);
  if (!user || !work) throw new NoRowsAffectedError("changing the password", 1, 0);
  const principal = principalOf(user, granted, firstRow(mfa));
  const ended = await applyRevocation(deps.sessions, work, principal);
  return ended.sessions;
}
