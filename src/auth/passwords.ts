import { batchAsActor, firstRow, READ_ONLY, SYSTEM } from "../db/actor.ts";
import { NoRowsAffectedError } from "../db/affected.ts";
import { voidPendingTokens } from "../db/queries/account-tokens.ts";
import { revokeAllUserKeys } from "../db/queries/api-keys.ts";
import { type RequestOrigin, recordSecurityEvent } from "../db/queries/audit.ts";
import { recordUserChanges, selectCredentials, selectMfa, selectPermissions } from "../db/queries/users.ts";
import { ApiError, invalidField } from "../pkg/errors/api-error.ts";
import { type AuthDeps, passwordHasher, principalOf } from "./auth-service.ts";
import { buckets, lockoutLog, throttledAttempt } from "./throttle.ts";
import { withUserSessions } from "./user-sessions.ts";

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
 * `reason: password_changed`, per key); then every other session of the user ends (ASVS V3.3.3)
 * and the keys' live copies go, this session stays, with the required action gone.
 *
 * Postgres: 2 round trips (the credentials; the change). Durable Object calls: 2 reservations and
 * 2 settlements in parallel pairs, 1 to the user's SESSIONS object.
 * @returns how many other sessions ended
 * @throws ApiError 403 `forbidden` for a wrong current password, 400 `validation_failed` for a new
 *   one containing the username or equal to the current one (at `/newPassword`), 429 `rate_limited`
 *   (Retry-After) while the account or address is throttled, 404 when the account is gone;
 *   DependencyError (503) for the throttle, the database or the SESSIONS object
 */
export async function changeOwnPassword(
  deps: Pick<AuthDeps, "config" | "http" | "sessions" | "throttle" | "client">,
  change: OwnPasswordChange,
): Promise<number> {
  const hasher = passwordHasher(deps.config.auth.pbkdf2Iterations);
  const [rows] = await batchAsActor(
    deps.http,
    SYSTEM,
    (db) => [selectCredentials(db, { id: change.userId })],
    READ_ONLY,
  );
  const account = firstRow(rows);
  if (!account) throw new ApiError("not_found", { detail: "Your account no longer exists." });
  checkNewPassword(change.newPassword, account.username, "/newPassword");

  const attempt = {
    buckets: [buckets.account(account.id), buckets.client(deps.client.ip)],
    refuse: (seconds: number) =>
      new ApiError("rate_limited", {
        detail: `Too many wrong passwords; wait ${seconds} s.`,
        headers: { "Retry-After": String(seconds) },
      }),
    lockouts: lockoutLog(deps.http),
  };
  const verified = await throttledAttempt(deps.throttle, attempt, async () => {
    const result = await hasher.verify(change.currentPassword, account.passwordHash);
    return result.valid ? result : undefined;
  });
  // A 403, not a 400: the request is well-formed, the proof of identity it carries is refused.
  if (!verified) throw new ApiError("forbidden", { detail: "The current password is wrong." });
  if (change.newPassword === change.currentPassword) {
    throw invalidField("body", "/newPassword", "must differ from the current password");
  }

  const passwordHash = await hasher.hash(change.newPassword);
  const [updated, granted, mfa] = await batchAsActor(deps.http, SYSTEM, (db) => [
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
    db.execute(
      revokeAllUserKeys({
        userId: account.id,
        revokedBy: account.id,
        actorId: account.id,
        reason: "password_changed",
        origin: change.origin,
      }),
    ),
  ]);
  const user = firstRow(updated);
  if (!user) throw new NoRowsAffectedError("changing the password", 1, 0);
  const principal = principalOf(user, granted, firstRow(mfa));
  return withUserSessions(deps.sessions, account.id, (stub) => stub.endOtherSessions(change.sessionId, principal));
}
