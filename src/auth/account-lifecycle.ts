import { sql } from "drizzle-orm";
import { base64url } from "jose";
import { batchAsActor, firstRow, READ_ONLY, SYSTEM } from "../db/actor.ts";
import type { HttpDatabase } from "../db/client.ts";
import { uniqueViolation } from "../db/errors.ts";
import {
  issueEmailChange,
  issueResetForAddress,
  issueTokenForUser,
  lockResetsOfAddress,
  selectResetUsername,
  spendEmailToken,
  spendResetToken,
} from "../db/queries/account-tokens.ts";
import type { RequestOrigin } from "../db/queries/audit.ts";
import type { LoginThrottle } from "../durable-objects/login-throttle.ts";
import { enqueueMail } from "../notifications/mail.ts";
import { sha256Hex } from "../pkg/crypto/digest.ts";
import { ApiError, DependencyError } from "../pkg/errors/api-error.ts";
import type { Logger } from "../pkg/logger/logger.ts";
import type { NotificationPublisher } from "../pkg/queue/events.ts";
import { passwordHasher, syncPrincipal } from "./auth-service.ts";
import { checkCurrentPassword, checkNewPassword } from "./passwords.ts";
import { buckets } from "./throttle.ts";
import { applyRevocation, type SessionsNamespace } from "./user-sessions.ts";

// The account's lifecycle by mail: verifying an address, resetting a forgotten password, changing
// the address. Each mails a single-use token (256 random bits, stored as its SHA-256 only) as a
// link to the web app (APP_URL), whose page POSTs it back; the link carries it in its fragment,
// which browsers never send to a server or put in a Referer, and a mail scanner that fetches the
// page spends nothing (only the POST does). OWASP Forgot Password Cheat Sheet; ASVS v4.0.3 V2.5.

/** How long a `verify_email` or `change_email` link works: 24 hours (in seconds). */
export const EMAIL_TOKEN_TTL_SECONDS = 24 * 3600;
/** How long a `reset_password` link works: 30 minutes (in seconds); OWASP Forgot Password Cheat Sheet. */
export const RESET_TOKEN_TTL_SECONDS = 30 * 60;
/** Reset links one account is sent per hour at most, whoever asks (per address: the `recovery` policy). */
export const RESETS_PER_ACCOUNT_PER_HOUR = 3;

/** What the flows need: Postgres (HTTP mode), the queue, the web app's address and the request. */
export interface LifecycleDeps {
  http: HttpDatabase;
  notifications: NotificationPublisher;
  /** The web app's origin (APP_URL), which mails link to. */
  appUrl: string;
  requestId: string;
  origin: RequestOrigin;
  logger: Logger;
  /** Runs work after the answer, within the request's lifetime (`Services.background`). */
  background(name: string, task: () => Promise<unknown>): void;
}

/** A new token: what the mail carries, and the hash stored. */
async function newToken(): Promise<{ token: string; tokenHash: string }> {
  const token = base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
  return { token, tokenHash: await sha256Hex(token) };
}

/** The hash a presented token is looked up by; anything that is no token of ours finds nothing. */
const hashOf = (token: string) => sha256Hex(token);

/** The web app's pages the mails link to, the token in the fragment. */
export const accountLinks = {
  verifyEmail: (appUrl: string, token: string) => `${appUrl}/verify-email#token=${token}`,
  resetPassword: (appUrl: string, token?: string) =>
    token === undefined ? `${appUrl}/reset-password` : `${appUrl}/reset-password#token=${token}`,
};

const linkRefused = () =>
  new ApiError("invalid_grant", {
    detail: "The link is not valid: it was used, it expired, or it is for something else.",
  });

/**
 * Mails the account `userId` a link that verifies its address, when the account is active and not
 * yet verified; records no security event (the verification is the event). One HTTP batch, then one
 * queue send. @returns whether a mail was queued (false: already verified, gone or disabled).
 * @throws `DependencyError` (503) when Postgres or the queue is unreachable.
 */
export async function sendEmailVerification(
  deps: Pick<LifecycleDeps, "http" | "notifications" | "appUrl" | "requestId" | "origin">,
  userId: string,
): Promise<boolean> {
  const { token, tokenHash } = await newToken();
  const [issued] = await batchAsActor(deps.http, SYSTEM, (db) => [
    issueTokenForUser(db, {
      userId,
      token: { purpose: "verify_email", tokenHash, ttlSeconds: EMAIL_TOKEN_TTL_SECONDS },
      when: sql`not u.email_verified`,
    }),
  ]);
  const row = firstRow(issued.rows);
  if (!row) return false;
  await enqueueMail(deps.notifications, {
    requestId: deps.requestId,
    to: row.email,
    template: "account.verify-email",
    params: {
      verifyUrl: accountLinks.verifyEmail(deps.appUrl, token),
      validHours: String(EMAIL_TOKEN_TTL_SECONDS / 3600),
    },
  });
  return true;
}

/**
 * Spends a `verify_email` or `change_email` token and applies it (one statement, its security
 * event included): the account's address verified, or moved to the new one, verified.
 * @returns the account's id and address now.
 * @throws `invalid_grant` (400) for an unknown, used, expired or other-purpose token; `conflict`
 *   (409) when another account took the new address meanwhile (nothing is spent).
 */
export async function confirmEmail(
  deps: Pick<LifecycleDeps, "http" | "origin">,
  token: string,
): Promise<{ userId: string; email: string; changed: boolean }> {
  const tokenHash = await hashOf(token);
  let rows: { user_id: string; purpose: string; email: string }[];
  try {
    const [spent] = await batchAsActor(deps.http, SYSTEM, (db) => [
      spendEmailToken(db, { tokenHash, origin: deps.origin }),
    ]);
    rows = spent.rows;
  } catch (error) {
    if (uniqueViolation(error) !== "users_email_key") throw error;
    throw new ApiError("conflict", { detail: "Another account uses this address now; the change was not made." });
  }
  const row = firstRow(rows);
  if (!row) throw linkRefused();
  return { userId: row.user_id, email: row.email, changed: row.purpose === "change_email" };
}

/**
 * A password reset asked for by address (`POST /auth/password-reset`). Answers nothing: the
 * lookup, the token and the mail run after the answer (`deps.background`), so the request's path
 * is the same whether or not an account has the address (ASVS v4.0.3 V2.2 and OWASP: no
 * enumeration by answer or by time). In the background: one HTTP batch (the address's lock, then
 * the token issued if an active account has it and it got fewer than
 * {@link RESETS_PER_ACCOUNT_PER_HOUR} this hour, with `user.password_reset_requested`), then the
 * mail when a token was issued.
 */
export function requestPasswordReset(deps: LifecycleDeps, email: string): void {
  deps.background("password reset request", async () => {
    const { token, tokenHash } = await newToken();
    const [, issued] = await batchAsActor(deps.http, SYSTEM, (db) => [
      lockResetsOfAddress(db, { email }),
      issueResetForAddress(db, {
        email,
        token: { tokenHash, ttlSeconds: RESET_TOKEN_TTL_SECONDS },
        perHour: RESETS_PER_ACCOUNT_PER_HOUR,
        event: { action: "user.password_reset_requested", actorId: null, origin: deps.origin },
      }),
    ]);
    const row = firstRow(issued.rows);
    if (!row) {
      deps.logger.info("password reset not sent: no active account with the address, or its hourly limit reached");
      return;
    }
    await mailReset(deps, row.email, token);
  });
}

/** Queues the reset mail with its link. */
export async function mailReset(
  deps: Pick<LifecycleDeps, "notifications" | "appUrl" | "requestId">,
  to: string,
  token: string,
): Promise<void> {
  await enqueueMail(deps.notifications, {
    requestId: deps.requestId,
    to,
    template: "account.password-reset",
    params: {
      resetUrl: accountLinks.resetPassword(deps.appUrl, token),
      validMinutes: String(RESET_TOKEN_TTL_SECONDS / 60),
    },
  });
}

/** A new token for a reset an administrator sends (src/auth/accounts.ts stores it in its transaction). */
export const newResetToken = newToken;

/** What setting a new password by a reset link needs besides the flows' deps. */
export interface ResetDeps extends Pick<LifecycleDeps, "http" | "origin"> {
  pbkdf2Iterations: number;
  sessions: SessionsNamespace;
  throttle: DurableObjectNamespace<LoginThrottle>;
}

/**
 * Sets a new password with a `reset_password` token (`POST /auth/password-reset/confirm`): the
 * password hashed, then one statement spends the token, sets the hash, counts the address as
 * verified, voids the account's other pending tokens, revokes every API key of the account and
 * records `user.password_reset` (and `api_key.revoked` per key) and queues the end of the account's
 * sessions in the SESSIONS outbox; then every session of the account ends, the keys' live copies
 * go and its login throttle is cleared (the owner proved control of the mailbox), and the stored
 * principal is synced (a pending `UPDATE_PASSWORD` is gone).
 * The new password follows registration's rules: it must not contain the account's username (read
 * by the token while the password is hashed).
 * Postgres: 3 round trips (the username, beside the hashing; the reset; the principal's read).
 * SESSIONS: 2 calls. @throws 400 `validation_failed` at `/password` for a password containing the
 * username (the token is not spent); `invalid_grant` (400) for an unknown, used, expired or other-purpose
 * token; `DependencyError` (503) when the SESSIONS or LOGIN_THROTTLE object is unreachable (the
 * password is changed then, and the outbox's cron ends the sessions within minutes:
 * src/auth/sessions-outbox.ts).
 */
export async function resetPassword(deps: ResetDeps, input: { token: string; password: string }): Promise<void> {
  const tokenHash = await hashOf(input.token);
  // The account's username, read while the password is hashed: registration's rule holds here too.
  const [[account], passwordHash] = await Promise.all([
    batchAsActor(deps.http, SYSTEM, (db) => [selectResetUsername(db, { tokenHash })], READ_ONLY),
    passwordHasher(deps.pbkdf2Iterations).hash(input.password),
  ]);
  const username = firstRow(account.rows)?.username;
  if (!username) throw linkRefused();
  checkNewPassword(input.password, username, "/password");
  const [spent] = await batchAsActor(deps.http, SYSTEM, (db) => [
    spendResetToken(db, { tokenHash, passwordHash, origin: deps.origin }),
  ]);
  const work = firstRow(spent.rows);
  if (!work) throw linkRefused();
  const throttle = deps.throttle.get(deps.throttle.idFromName(buckets.account(work.userId).key));
  await Promise.all([
    applyRevocation(deps.sessions, work),
    throttle.succeed().catch((error: unknown) => {
      throw new DependencyError("login throttle", error);
    }),
  ]);
  // The stored principal still holds UPDATE_PASSWORD if a temporary password was pending: the reset
  // cleared it in Postgres, so the next login's session must not be told to change it again.
  await syncPrincipal({ http: deps.http, sessions: deps.sessions }, work.userId);
}

/** A change of address asked for by the account's owner. */
export interface EmailChange {
  userId: string;
  currentPassword: string;
  newEmail: string;
}

/** What a change of address needs besides the flows' deps: the password check under the throttle. */
export interface EmailChangeDeps extends LifecycleDeps {
  throttle: DurableObjectNamespace<LoginThrottle>;
  clientIp: string;
  pbkdf2Iterations: number;
}

/**
 * Asks to move the caller's account to `newEmail` (`POST /users/me/email`). The current password
 * is checked first by `checkCurrentPassword` (src/auth/passwords.ts: one attempt of the login
 * throttle, its lock-outs recorded like a login's; a stolen session cannot guess it freely). Then one HTTP batch voids an earlier pending change, issues a
 * `change_email` token unless an account holds the address, and records
 * `user.email_change_requested`. After the answer (`deps.background`), the link goes to the new
 * address (when a token was issued: a taken address is sent nothing and the answer does not say
 * so) and a notice to the old one, with the time and how to stop it (a password reset).
 * Nothing changes until the link is followed (`confirmEmail`).
 * @throws `forbidden` (403) for a wrong password, `rate_limited` (429) while throttled,
 *   `validation_failed` (400) when the new address is the current one.
 */
export async function requestEmailChange(deps: EmailChangeDeps, change: EmailChange): Promise<void> {
  const newEmail = change.newEmail.toLowerCase();
  const account = await checkCurrentPassword(deps, { userId: change.userId, password: change.currentPassword });
  if (account.email === newEmail) {
    throw new ApiError("validation_failed", {
      errors: [{ in: "body", pointer: "/email", message: "is the account's address already" }],
    });
  }
  const { token, tokenHash } = await newToken();
  const [issued] = await batchAsActor(deps.http, SYSTEM, (db) => [
    issueEmailChange(db, {
      userId: change.userId,
      newEmail,
      token: { tokenHash, ttlSeconds: EMAIL_TOKEN_TTL_SECONDS },
      event: { action: "user.email_change_requested", actorId: change.userId, origin: deps.origin },
    }),
  ]);
  const sendLink = firstRow(issued.rows) !== undefined;
  const requestedAt = new Date().toISOString();
  deps.background("email change mails", async () => {
    await Promise.all([
      sendLink
        ? enqueueMail(deps.notifications, {
            requestId: deps.requestId,
            to: newEmail,
            template: "account.email-change-verify",
            params: {
              verifyUrl: accountLinks.verifyEmail(deps.appUrl, token),
              validHours: String(EMAIL_TOKEN_TTL_SECONDS / 3600),
            },
          })
        : Promise.resolve(deps.logger.info("email change link not sent: another account has the address")),
      enqueueMail(deps.notifications, {
        requestId: deps.requestId,
        to: account.email,
        template: "account.email-change-notice",
        params: { newEmail, requestedAt, resetUrl: accountLinks.resetPassword(deps.appUrl) },
      }),
    ]);
  });
}

/**
 * Tells the OLD address that an administrator moved the account to `to` (`PATCH /users/{id}`),
 * after the answer (`deps.background`): the owner learns of it although the change needed no
 * word from them, and reset links now go elsewhere. ASVS 4.0.3 V2.2.3.
 */
export function noticeEmailChangedByAdministrator(deps: LifecycleDeps, change: { from: string; to: string }): void {
  const requestedAt = new Date().toISOString();
  deps.background("email changed notice", () =>
    enqueueMail(deps.notifications, {
      requestId: deps.requestId,
      to: change.from,
      template: "account.email-change-notice",
      params: {
        newEmail: change.to,
        requestedAt,
        resetUrl: accountLinks.resetPassword(deps.appUrl),
        by: "administrator",
      },
    }),
  );
}

/**
 * What an account with an unverified address may not do: act towards other people by address or
 * name (share a document, invite to a project), since its address may be someone else's (an
 * account registered in another's name must not reach out under it); OIDC does not link to it
 * either (src/auth/auth-service.ts). Admins are exempt (the operator makes them).
 * @throws `forbidden` (403) naming the rule, `emailVerification: "required"` in the problem.
 */
export function requireVerifiedEmail(
  account: { emailVerified: boolean; role: string } | undefined,
  what: string,
): void {
  if (!account || account.emailVerified || account.role === "admin") return;
  throw new ApiError("forbidden", {
    detail: `Verify your email address before you ${what} (POST /users/me/email-verification sends a new link).`,
    extensions: { emailVerification: "required" },
  });
}
