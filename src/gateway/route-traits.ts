import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { AppEnv } from "../app/context.ts";
import type { RequiredAction } from "../durable-objects/sessions.ts";
import type { PolicyName } from "./rate-limit-policies.ts";

/**
 * What a route declares about itself (`protectedRoute(access, config, traits)`, or
 * `publicRoute(config, traits)` for the rate limit alone), read by its guard and by the gateway
 * instead of matching paths, so that a renamed path keeps what it declared:
 * - `rateLimit`: the policy its requests are counted under (`DEFAULT_POLICIES`, windows
 *   replaceable by name with RATE_LIMIT_POLICIES); absent, `api`; `false`, not counted (the
 *   liveness probe).
 * - `interactiveOnly`: an API key is refused (403) whatever its scopes: managing keys, sessions,
 *   second factors, passwords, email addresses, deleting the account.
 * - `projectKeys`: a project key (an API key bound to one project) reaches the route: `{ param }`
 *   when the path parameter `param` must name the key's project (`/projects/{id}/…`),
 *   `"row-level-security"` when row-level security confines what it touches to that project
 *   (`app.project_id`: the documents). Absent: a project key is refused (403).
 * - `withoutDataScope`: a caller holding neither `read` nor `write` (a key, or a session granted
 *   only some scopes) may call it: the route concerns the token's own session (logging out) or
 *   is governed by another scope (userinfo: `openid`). Otherwise a route no permission guards
 *   needs `read` (GET, HEAD) or `write` (`requiredDataScope`).
 * - `requiredActionFor`: the required actions (src/auth/required-actions.ts) this route carries
 *   out, so a session with one of them pending may call it.
 * - `duringRequiredActions`: any restricted session may call it (who am I, logging out).
 * - `showsSessions`, `showsKeyUsage`: the gateway's SESSIONS call reads the caller's sessions or
 *   API keys' last uses along with the session check (`c.get("liveSessions")`, `c.get("keyUsage")`).
 */
export interface RouteTraits {
  rateLimit?: PolicyName | false;
  interactiveOnly?: boolean;
  projectKeys?: { param: string } | "row-level-security";
  withoutDataScope?: boolean;
  requiredActionFor?: readonly RequiredAction[];
  duringRequiredActions?: boolean;
  showsSessions?: boolean;
  showsKeyUsage?: boolean;
}

/** What a route without a token may declare: its rate-limit policy. */
export type PublicRouteTraits = Pick<RouteTraits, "rateLimit">;

/** A route's traits, and whether its guard authenticates (protected routes) or it is public. */
export interface DeclaredRoute {
  traits: RouteTraits;
  authenticates: boolean;
}

/** The middleware that declare a route (guards, and public routes' markers), as created, with what they declare. */
const declarations = new WeakMap<object, DeclaredRoute>();

/** Records `middleware` as the declaration of its route: `servedRoute` finds it among the matched handlers. */
export function declareRoute(middleware: MiddlewareHandler<AppEnv>, declared: DeclaredRoute): void {
  declarations.set(middleware, declared);
}

/**
 * The route middleware of a public route that declares traits: it does nothing but carry them
 * (`servedRoute` finds it among the request's matched handlers).
 */
export function publicRouteMarker(traits: PublicRouteTraits): MiddlewareHandler<AppEnv> {
  const middleware: MiddlewareHandler<AppEnv> = async function declaredRoute(_c, next) {
    await next();
  };
  declareRoute(middleware, { traits, authenticates: false });
  return middleware;
}

/**
 * The declaration of the route that serves a request: the first route registered for its method
 * that matches (`DELETE /users/me`, not `DELETE /users/{id}` which matches the URL too and comes
 * later; a HEAD is served by the GET route, RFC 9110 §9.3.2), as its guard or marker declared it.
 * Undefined when that route declares nothing (a public route with the default policy) or no route
 * matches; middleware for every method (`app.use`) are no route.
 */
export function servedRoute(c: Context<AppEnv>): DeclaredRoute | undefined {
  const method = c.req.method === "HEAD" ? "GET" : c.req.method;
  const routes = matchedRoutes(c).filter((route) => route.method === method);
  const served = routes[0];
  if (!served) return undefined;
  for (const route of routes) {
    if (route.path !== served.path) continue;
    const declared = declarations.get(route.handler);
    if (declared) return declared;
  }
  return undefined;
}

/**
 * The traits a route declares that clients (and the tests walking the document) need, as OpenAPI
 * operation extensions: `x-rate-limit-policy`, `x-interactive-only`, `x-project-keys`,
 * `x-required-action-for`.
 */
export function traitExtensions(traits: RouteTraits): Record<`x-${string}`, unknown> {
  return {
    ...(traits.rateLimit !== undefined && { "x-rate-limit-policy": traits.rateLimit }),
    ...(traits.interactiveOnly && { "x-interactive-only": true }),
    ...(traits.projectKeys && { "x-project-keys": traits.projectKeys }),
    ...(traits.requiredActionFor && { "x-required-action-for": traits.requiredActionFor }),
  };
}
