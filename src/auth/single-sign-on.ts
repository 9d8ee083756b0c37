import type { Principal, SsoIssued, SsoStart } from "../durable-objects/sessions.ts";
import { type AuthDeps, type Authentication, sessionLifetimes } from "./auth-service.ts";
import { parseUserToken, userToken, withUserSessions } from "./user-sessions.ts";

// Single sign-on at the sign-in pages (OpenID Connect Core §3.1.2.3: "the Authorization Server
// MUST attempt to Authenticate the End-User" only when it has not). A sign-in on the authorization
// endpoint's page or the device verification page starts a single sign-on session in the user's
// SESSIONS object, in the call that issues the code or starts the device's session; the browser
// holds it as a cookie (src/routes/auth/sign-in.ts). Every way the user's sessions end (logout of
// a session issued under it, sign-out everywhere, a password change or reset, an MFA reset, a
// disabled account) ends it there too.

/**
 * A browser's single sign-on session, as its cookie carries it: `<userId>.<ssoId>.<secret>`
 * (`parseUserToken`), and its absolute end (epoch ms, for the cookie's `Max-Age`).
 */
export interface SingleSignOn {
  token: string;
  expiresAt: number;
}

/**
 * What starting a single sign-on session for `principal` takes: the lifetimes (ms) of a session
 * of theirs (a staff account's shorter ones: `sessionLifetimes`), and the browser's previous one
 * to end (its cookie's, if it names the same user).
 */
export function ssoStart(
  deps: Pick<AuthDeps, "config" | "client">,
  principal: Principal,
  userId: string,
  previous: string | undefined,
): SsoStart {
  const { absoluteTtlMs, idleTimeoutMs } = sessionLifetimes(deps, principal);
  const replaced = previous === undefined ? undefined : parseUserToken(previous);
  return { absoluteTtlMs, idleTimeoutMs, replaces: replaced?.userId === userId ? replaced.id : undefined };
}

/** The cookie value of a single sign-on session the SESSIONS object started. */
export const singleSignOn = (userId: string, issued: SsoIssued): SingleSignOn => ({
  token: userToken(userId, issued.id, issued.secret),
  expiresAt: issued.expiresAt,
});

/**
 * Signs the user in with the browser's single sign-on session (its cookie's value): the user and
 * the original sign-in (`auth_time`, `amr`; no `mfa_token` to spend, no change to record). One
 * call to the user's SESSIONS object, which marks the session used.
 * @returns undefined when the value names no live single sign-on session of an active user
 * @throws DependencyError when the SESSIONS object is unreachable
 */
export async function useSingleSignOn(
  deps: Pick<AuthDeps, "sessions">,
  token: string,
): Promise<{ userId: string; authentication: Authentication } | undefined> {
  const sso = parseUserToken(token);
  if (!sso) return undefined;
  const signIn = await withUserSessions(deps.sessions, sso.userId, (stub) => stub.useSsoSession(sso.id, sso.secret));
  return signIn ? { userId: sso.userId, authentication: { amr: signIn.amr, authTime: signIn.authTime } } : undefined;
}
