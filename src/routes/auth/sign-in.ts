import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../../app/context.ts";
import { type AuthDeps, type Authentication, checkPassword, checkSecondFactor } from "../../auth/auth-service.ts";
import type { SingleSignOn } from "../../auth/single-sign-on.ts";
import type { PublicUser } from "../../db/queries/users.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";

// The sign-in step of the sign-in pages (the authorization endpoint's, src/routes/auth/authorize.ts,
// and the device verification page, device.ts): the password, then a TOTP or recovery code for an
// account with MFA on, through the token endpoint's checks and throttle; and the single sign-on
// cookie a sign-in leaves. Each page checks its form's CSRF token first (csrf.ts) and renders
// what this answers (sign-in-page.ts).

/** What a sign-in form posts: the password step's fields, or the second factor's with its `mfa_token`. */
export interface SignInFields {
  username?: string | undefined;
  password?: string | undefined;
  mfa_token?: string | undefined;
  otp?: string | undefined;
  recovery_code?: string | undefined;
}

/**
 * The outcome of a sign-in step: the user proven (with how, for the ID token and the login's
 * record), or the form to show again at `step` (the second factor's carrying its `mfaToken`), with
 * what went wrong in words for the page.
 */
export type SignInStep =
  | { kind: "signed-in"; user: PublicUser; authentication: Authentication }
  | { kind: "form"; step: "password" | "second-factor"; mfaToken?: string | undefined; error?: string | undefined };

const epochSeconds = () => Math.floor(Date.now() / 1000);

/**
 * One step of a sign-in form: with an `mfa_token`, the second factor (`checkSecondFactor`: the
 * `otp`, else the `recovery_code`); otherwise the password (`checkPassword`), which for an account
 * with MFA on answers the second factor's form. A wrong password or code and a throttled attempt
 * are the form again with the message (the page is the user's, not an API error): the same
 * answer for an unknown user as for a wrong password.
 *
 * @throws what the checks throw besides `invalid_grant` and `slow_down` (DependencyError: 503)
 */
export async function signIn(deps: AuthDeps, fields: SignInFields): Promise<SignInStep> {
  try {
    if (fields.mfa_token) {
      const factor = fields.otp ? { otp: fields.otp } : { recoveryCode: fields.recovery_code ?? "" };
      const proven = await checkSecondFactor(deps, { mfaToken: fields.mfa_token, ...factor });
      // RFC 8176: a one-time password from an authenticator app is `otp`, a recovery code is not;
      // the first factor was the password, or a third-party login (`fed`).
      const amr = [proven.provider ? "fed" : "pwd", ...(fields.otp ? ["otp"] : []), "mfa"];
      return {
        kind: "signed-in",
        user: proven.user,
        authentication: { amr, provider: proven.provider, authTime: epochSeconds(), once: proven.once },
      };
    }
    const checked = await checkPassword(deps, { username: fields.username ?? "", password: fields.password ?? "" });
    if (checked.kind === "mfa") return { kind: "form", step: "second-factor", mfaToken: checked.mfaToken };
    const authentication = { amr: ["pwd"], authTime: epochSeconds(), changes: checked.rehash };
    return { kind: "signed-in", user: checked.user, authentication };
  } catch (error) {
    if (!(error instanceof ApiError) || (error.code !== "invalid_grant" && error.code !== "rate_limited")) throw error;
    const step = fields.mfa_token ? "second-factor" : "password";
    const retryAfter = error.headers["Retry-After"];
    const message = retryAfter
      ? `Too many failed attempts; wait ${retryAfter} s and try again.`
      : step === "password"
        ? "Invalid username or password."
        : "The code is invalid or was already used (or the sign-in expired: cancel and start again).";
    return { kind: "form", step, mfaToken: fields.mfa_token, error: message };
  }
}

/**
 * The single sign-on cookie: host-only (`__Host-`, as the CSRF cookie), HttpOnly, Secure, and
 * `SameSite=Lax`, so that a client's top-level redirect to the authorization endpoint carries it
 * (a cross-site post or a subresource does not).
 */
const SSO_COOKIE = "__Host-techcorp-sso";

/** Browsers cap a cookie's lifetime at 400 days (RFC 6265bis §5.6.2); hono refuses a longer Max-Age. */
const MAX_COOKIE_AGE_SECONDS = 400 * 24 * 3600;

/** The single sign-on cookie the browser sent (unchecked: the user's SESSIONS object checks it). */
export function ssoCookie(c: Context<AppEnv>): string | undefined {
  return getCookie(c, SSO_COOKIE) || undefined;
}

/** Sets the single sign-on cookie, living as long as its session may (`Max-Age` to its absolute end). */
export function setSsoCookie(c: Context<AppEnv>, sso: SingleSignOn): void {
  const maxAge = Math.min(MAX_COOKIE_AGE_SECONDS, Math.max(0, Math.floor((sso.expiresAt - Date.now()) / 1000)));
  setCookie(c, SSO_COOKIE, sso.token, { path: "/", secure: true, httpOnly: true, sameSite: "Lax", maxAge });
}

/** Drops a single sign-on cookie whose session has ended. */
export function clearSsoCookie(c: Context<AppEnv>): void {
  deleteCookie(c, SSO_COOKIE, { path: "/", secure: true });
}
