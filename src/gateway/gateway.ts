import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../app/context.ts";
import { InvalidTokenError, type VerifiedAccess } from "../auth/tokens.ts";
import type { Authorization, RateCount } from "../durable-objects/sessions.ts";
import type { RateDecision } from "../durable-objects/sliding-window.ts";
import { DependencyError } from "../pkg/errors/api-error.ts";
import { authenticate, routeAuthenticates, verifyBearer } from "./authentication.ts";
import { countByAddress, enforce, requestLimit, routeKey } from "./rate-limit.ts";

/**
 * Routes that show the caller's sessions: the gateway's call reads them with the session check,
 * so the handler makes no second call to the same object (`c.get("liveSessions")`).
 */
const SHOWS_SESSIONS: ReadonlySet<string> = new Set(["GET /auth/sessions"]);

/**
 * The gateway: who is calling, and may they, in at most one Durable Object call before the
 * handler runs when the caller signs in.
 *
 * - A Bearer token is verified in the isolate (`verifyBearer`). On a route that authenticates
 *   (requireAuth, requirePermission, requireAdmin), the user's SESSIONS object then checks the session (alive,
 *   account active; current role and permissions) and counts the request against the user's
 *   windows of the route's policy in the same call (`Sessions.authorize`): one crossing instead of
 *   two, exact under concurrency as the RateLimiter is; on a route in `SHOWS_SESSIONS` it reads
 *   the user's sessions as well. Should the session have ended, the request is no user's: it is
 *   counted by client address (a second call, on the way to a 401).
 * - Anywhere else the request is counted by client address in the RATE_LIMITER (`countByAddress`),
 *   and a token's session, when one is presented, is checked in parallel: the two objects differ.
 * - A refused token is remembered for `requireAuth` (the route decides); a refused count is a 429
 *   (`enforce`); an unreachable SESSIONS object is a 503 naming `sessions`, whatever the route.
 */
export function gateway(): MiddlewareHandler<AppEnv> {
  return async function gateway(c, next) {
    const bearer = await verifyBearer(c);
    if (bearer && "error" in bearer) c.set("authError", bearer.error);
    const claims = bearer && "claims" in bearer ? bearer.claims : undefined;
    const limit = requestLimit(c);
    const authorize = (token: VerifiedAccess, count: RateCount | null, list = false) =>
      c.env.SESSIONS.get(c.env.SESSIONS.idFromName(token.sub)).authorize(token.sid, count, { list });

    let decision: RateDecision | undefined;
    if (claims && routeAuthenticates(c)) {
      const count = limit ? { key: limit.name, policy: limit.policy } : null;
      const authorization = await authorize(claims, count, SHOWS_SESSIONS.has(routeKey(c))).catch((error: unknown) => {
        throw new DependencyError("sessions", error);
      });
      identify(c, claims, authorization);
      if (authorization?.sessions) c.set("liveSessions", authorization.sessions);
      // A session that has ended makes this no user's request: its address's, on the way to a 401.
      if (authorization) decision = authorization.decision ?? undefined;
      else if (limit) decision = await countByAddress(c, limit);
    } else {
      const [session, counted] = await Promise.allSettled([
        claims ? authorize(claims, null) : null,
        limit ? countByAddress(c, limit) : undefined,
      ]);
      if (session.status === "rejected") throw new DependencyError("sessions", session.reason);
      if (claims) identify(c, claims, session.value);
      if (counted.status === "rejected") throw counted.reason;
      decision = counted.value;
    }
    await enforce(c, limit, decision, next);
  };
}

/** The caller of a token whose session is alive; otherwise why the token is refused. */
function identify(c: Context<AppEnv>, claims: VerifiedAccess, authorization: Authorization | null): void {
  if (authorization) authenticate(c, claims, authorization.principal);
  else c.set("authError", new InvalidTokenError("the session has ended"));
}
