import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { base64url } from "jose";
import type { AppEnv } from "../../app/context.ts";
import { csrfRefused } from "../../auth/authorization-code.ts";
import { constantTimeEqualText } from "../../pkg/crypto/constant-time.ts";

/**
 * The CSRF cookie of the sign-in forms: host-only (`__Host-`: no subdomain can set it), HttpOnly,
 * `SameSite=Strict` (a cross-site post does not carry it).
 */
const CSRF_COOKIE = "__Host-techcorp-csrf";

/**
 * The CSRF token a sign-in form carries: the cookie's value (set now if the browser has none), so
 * a post must hold a value only this site's pages know (OWASP CSRF Prevention: double submit with
 * a host-only cookie, and the Origin check in `checkCsrf`).
 */
export function csrfToken(c: Context<AppEnv>): string {
  const existing = getCookie(c, CSRF_COOKIE);
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  const token = base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
  setCookie(c, CSRF_COOKIE, token, { path: "/", secure: true, httpOnly: true, sameSite: "Strict", maxAge: 3600 });
  return token;
}

/**
 * @throws ApiError `forbidden` (403) unless the form's token equals the cookie's and the post came
 *   from this site (`Origin`, when the browser sends one, as every current browser does on a post):
 *   the request's own origin or `PUBLIC_URL`'s, where the pages are served. Both are needed: a
 *   multi-worker `wrangler dev` session rewrites the request's URL to the route's host
 *   (`routes` in wrangler.toml) but passes the browser's `Origin` as it came.
 */
export function checkCsrf(c: Context<AppEnv>, presented: string | undefined): void {
  const origin = c.req.header("origin");
  const site = [new URL(c.req.url).origin, new URL(c.get("services").config.publicUrl).origin];
  if (origin !== undefined && !site.includes(origin)) throw csrfRefused();
  const expected = getCookie(c, CSRF_COOKIE);
  if (!expected || !presented || !constantTimeEqualText(expected, presented)) throw csrfRefused();
}
