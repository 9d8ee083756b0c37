import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../app/context.ts";
import { InvalidTokenError, type VerifiedAccess } from "../auth/tokens.ts";
import type { Authorization, KeyAuthorization, RateCount } from "../durable-objects/sessions.ts";
import type { RateDecision } from "../durable-objects/sliding-window.ts";
import { DependencyError } from "../pkg/errors/api-error.ts";
import { authenticate, authenticateKey, verifyBearer } from "./authentication.ts";
import { clientIp, countByAddress, enforce, requestLimit } from "./rate-limit.ts";
import { type RouteTraits, servedRoute } from "./route-traits.ts";

/**
 * The gateway: who is calling, and may they, in at most one Durable Object call before the
 * handler runs when the caller signs in.
 *
 * - A Bearer token is verified in the isolate (`verifyBearer`). On a route that authenticates
 *   (requireAuth, requirePermission, requireAdmin), the user's SESSIONS object then checks the session (alive,
 *   account active; current role and permissions) and counts the request against the user's
 *   windows of the route's policy in the same call (`Sessions.authorize`): one crossing instead of
 *   two, exact under concurrency as the RateLimiter is; on a route declared `showsSessions`
 *   (`showsKeyUsage`) it reads the user's sessions (API keys' last uses) as well, so the handler
 *   makes no second call to the same object. Should the session have ended, the request is no user's: it is
 *   counted by client address (a second call, on the way to a 401).
 * - Anywhere else the request is counted by client address in the RATE_LIMITER (`countByAddress`),
 *   and a token's session, when one is presented, is checked in parallel: the two objects differ.
 * - An API key (`tcp_…`) is checked likewise in its owner's SESSIONS object, in one call
 *   (`Sessions.authorizeKey`: live, unexpired, owner active; counted per key; marked used with
 *   the time and client address); a refused key is counted by client address.
 * - A refused token is remembered for `requireAuth` (the route decides); a refused count is a 429
 *   (`enforce`); an unreachable SESSIONS object is a 503 naming `sessions`, whatever the route.
 */
export function gateway(): MiddlewareHandler<AppEnv> {
  return async function gateway(c, next) {
    const bearer = await verifyBearer(c);
    if (bearer && "error" in bearer) c.set("authError", bearer.error);
    const claims = bearer && "claims" in bearer ? bearer.claims : undefined;
    const apiKey = bearer && "apiKey" in bearer ? bearer.apiKey : undefined;
    const served = servedRoute(c);
    const limit = requestLimit(c, served);
    const sessionsOf = (userId: string) => c.env.SESSIONS.get(c.env.SESSIONS.idFromName(userId));
    /**
     * Asks the owner's SESSIONS object about the presented credential (a token's session, or an
     * API key), counting `count` when it is live, and records the caller or why it is refused;
     * `route` asks for what the route shows (its sessions, its keys' last uses). Null when no
     * credential was presented.
     */
    const check = async (count: RateCount | null, route: RouteTraits = {}): Promise<Checked | null> => {
      if (claims) {
        const options = { list: route.showsSessions === true, keys: route.showsKeyUsage === true };
        const authorization = await sessionsOf(claims.sub).authorize(claims.sid, count, options);
        identify(c, claims, authorization);
        if (authorization?.sessions) c.set("liveSessions", authorization.sessions);
        if (authorization?.keyUsage) c.set("keyUsage", authorization.keyUsage);
        return { live: authorization !== null, decision: authorization?.decision ?? null };
      }
      if (apiKey) {
        const authorization = await sessionsOf(apiKey.userId).authorizeKey(apiKey.hash, count, { ip: clientIp(c) });
        identifyKey(c, apiKey.userId, authorization);
        return { live: authorization !== null, decision: authorization?.decision ?? null };
      }
      return null;
    };

    let decision: RateDecision | undefined;
    if ((claims || apiKey) && served?.authenticates) {
      const count = limit ? { key: limit.name, policy: limit.policy } : null;
      const checked = await check(count, served.traits).catch((error: unknown) => {
        throw new DependencyError("sessions", error);
      });
      decision = checked?.decision ?? undefined;
      // An ended session or a refused key makes this no user's request: its address's, on the way to a 401.
      if (!checked?.live && limit) decision = await countByAddress(c, limit);
    } else {
      const [checked, counted] = await Promise.allSettled([check(null), limit ? countByAddress(c, limit) : undefined]);
      if (checked.status === "rejected") throw new DependencyError("sessions", checked.reason);
      if (counted.status === "rejected") throw counted.reason;
      decision = counted.value;
    }
    await enforce(c, limit, decision, next);
  };
}

/** What the SESSIONS object said of a credential: whether it is live, and the count's decision. */
interface Checked {
  live: boolean;
  decision: RateDecision | null;
}

/** The caller of a live API key; otherwise why the key is refused. */
function identifyKey(c: Context<AppEnv>, userId: string, authorization: KeyAuthorization | null): void {
  if (authorization) authenticateKey(c, userId, authorization);
  else
    c.set("authError", new InvalidTokenError("the API key is unknown, revoked or expired, or its owner is disabled"));
}

/** The caller of a token whose session is alive; otherwise why the token is refused. */
function identify(c: Context<AppEnv>, claims: VerifiedAccess, authorization: Authorization | null): void {
  if (authorization) {
    const { principal, session } = authorization;
    authenticate(c, claims, { principal, scope: session.scope, authenticatedAt: session.authenticatedAt });
  } else c.set("authError", new InvalidTokenError("the session has ended"));
}
