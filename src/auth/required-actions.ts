import type { Permission, UserRole } from "../db/schema/users.ts";
import type { RequiredAction } from "../durable-objects/sessions.ts";

/**
 * Required actions (Keycloak's notion): what a signed-in user must do before the session may do
 * anything else. A session whose principal lists any is restricted to the routes that carry them
 * out (declared on the route: `protectedRoute(…, { requiredActionFor: [...] })`), plus reading
 * one's profile and logging out (`duringRequiredActions`); every other protected route answers 403
 * `required_action` naming them (`requireAuth`, src/gateway/authentication.ts).
 *
 * - `CONFIGURE_TOTP`: a staff account (role `admin`, or holding any delegated permission) without
 *   a confirmed second factor. ASVS 4.0.3 V2.1 / V4.3.1: administrative interfaces use MFA.
 *   Derived, never stored: it appears the moment the user becomes staff (the grant syncs their
 *   sessions) and goes the moment MFA is confirmed.
 * - `UPDATE_PASSWORD`: the password is a temporary one an administrator set
 *   (`users.password_change_required`); cleared by `POST /users/me/password`.
 */
/** Staff: administrators and every holder of a delegated permission (they act on others' data). */
export function isStaffAccount(account: { role: UserRole; permissions: readonly Permission[] }): boolean {
  return account.role === "admin" || account.permissions.length > 0;
}

/**
 * The required actions of an account as it stands: `CONFIGURE_TOTP` for staff without a confirmed
 * second factor, `UPDATE_PASSWORD` while the password is a temporary one.
 */
export function requiredActionsOf(account: {
  role: UserRole;
  permissions: readonly Permission[];
  mfaEnabled: boolean;
  passwordChangeRequired: boolean;
}): RequiredAction[] {
  const actions: RequiredAction[] = [];
  if (isStaffAccount(account) && !account.mfaEnabled) actions.push("CONFIGURE_TOTP");
  if (account.passwordChangeRequired) actions.push("UPDATE_PASSWORD");
  return actions;
}

/** Session lifetimes in ms (`CreateSession`'s absolute and idle limits). */
export interface SessionLifetimes {
  absoluteTtlMs: number;
  idleTimeoutMs: number;
}

/**
 * The lifetimes of a new session of this account: a staff account's are the shorter of the
 * general ones and the staff ones (ASVS 4.0.3 V3.3.2 at L2: re-authentication after 12 h and 30
 * min idle, `STAFF_SESSION_MAX_AGE_SECONDS`, `STAFF_SESSION_IDLE_TIMEOUT_SECONDS`).
 */
export function sessionLifetimesOf(
  account: { role: UserRole; permissions: readonly Permission[] },
  config: {
    sessionMaxAgeMs: number;
    sessionIdleTimeoutMs: number;
    staffSessionMaxAgeMs: number;
    staffSessionIdleTimeoutMs: number;
  },
): SessionLifetimes {
  if (!isStaffAccount(account)) {
    return { absoluteTtlMs: config.sessionMaxAgeMs, idleTimeoutMs: config.sessionIdleTimeoutMs };
  }
  return {
    absoluteTtlMs: Math.min(config.sessionMaxAgeMs, config.staffSessionMaxAgeMs),
    idleTimeoutMs: Math.min(config.sessionIdleTimeoutMs, config.staffSessionIdleTimeoutMs),
  };
}
