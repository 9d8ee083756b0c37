import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import type { Permission } from "../db/schema/users.ts";
import { requireAdmin, requireAuth, requiredDataScope, requirePermission } from "../gateway/authentication.ts";
import type { PolicyName } from "../gateway/rate-limit-policies.ts";
import {
  type PublicRouteTraits,
  publicRouteMarker,
  type RouteTraits,
  traitExtensions,
} from "../gateway/route-traits.ts";
import { problemResponses } from "../pkg/errors/problem.ts";

/** Operations that need an access token (the `bearerAuth` scheme registered in workers/api/app.ts). */
export const BEARER = [{ bearerAuth: [] }];

/** A JSON request body of `schema`, required (a missing or non-JSON body is 415/400 from the shell). */
export const jsonBody = <S>(schema: S, description?: string) => ({
  required: true,
  ...(description === undefined ? {} : { description }),
  content: { "application/json": { schema } },
});

/** A JSON response of `schema`, for a route's `responses`. */
export const jsonResponse = <S>(description: string, schema: S) => ({
  description,
  content: { "application/json": { schema } },
});

/**
 * Who may call a protected route: any authenticated caller (`"caller"`), administrators only
 * (`"admin"`), or one holding a permission (admins hold all; src/db/schema/users.ts).
 */
export type Access = "caller" | "admin" | Permission;

/**
 * The scopes an operation needs, as its `bearerAuth` security requirement lists them (OpenAPI 3.1
 * §4.8.30: role names, for a scheme other than OAuth's): the data scope of a caller's route
 * (`read` or `write`, none when declared `withoutDataScope`), the permission, or `admin`.
 */
const scopesOf = (access: Access, dataScope: string | null): string[] => {
  if (access !== "caller") return [access];
  return dataScope === null ? [] : [dataScope];
};

/**
 * Declares a route that needs an access token: `createRoute` with the `bearerAuth` security
 * scheme naming the scope it needs, the guard middleware (`requireAuth`, with the data scope of
 * `requiredDataScope`; `requireAdmin` for `"admin"`; `requirePermission` when `access` names a
 * permission) and their problems documented: 401 (missing, expired, forged or revoked token, with
 * `WWW-Authenticate`, RFC 6750 §3), and 403 for a caller who is not an administrator or lacks the
 * permission, or a key or session without the scope the route needs, or a key that may not reach
 * it (`insufficient_scope`, src/gateway/authentication.ts).
 * `config.responses` lists the route's own outcomes; the guard's are added to them. `traits` says
 * what the route is, for the guard and the gateway to read off the route rather than its path
 * (`RouteTraits`, src/gateway/route-traits.ts: its rate-limit policy, interactive-only, project
 * keys, the required actions it carries out …); the ones clients need are in the operation as
 * `x-` extensions (`traitExtensions`).
 */
export function protectedRoute<const R extends Omit<RouteConfig, "security" | "middleware">>(
  access: Access,
  config: R,
  traits: RouteTraits = {},
) {
  const dataScope = requiredDataScope(config.method, traits, access !== "caller");
  const guard =
    access === "caller"
      ? requireAuth(dataScope, traits)
      : access === "admin"
        ? requireAdmin(traits)
        : requirePermission(access, traits);
  // Any protected route refuses a key or session without the scope it needs (src/gateway/authentication.ts).
  const refusals = problemResponses(401, 403);
  const route = createRoute({
    ...config,
    ...traitExtensions(traits),
    security: [{ bearerAuth: scopesOf(access, dataScope) }],
    middleware: [guard] as const,
    responses: { ...refusals, ...config.responses },
  });
  // The same members, with security and guard where hand-written declarations put them (after the
  // description, before the request), so that the document's operations keep their key order.
  const { request, responses, ...declaration } = route;
  return { ...declaration, ...(request === undefined ? {} : { request }), responses } as typeof route;
}

/**
 * Declares a route that takes no access token with its rate-limit policy (`rateLimit`, a name of
 * `DEFAULT_POLICIES`; false: not counted): `createRoute` with a marker middleware carrying it first
 * (the gateway reads it off the route served, src/gateway/route-traits.ts, never off its path) and
 * the operation's `x-rate-limit-policy`. A public route counted under `api` may use plain
 * `createRoute`.
 */
export function publicRoute<const R extends RouteConfig>(rateLimit: PolicyName | false, config: R) {
  const traits: PublicRouteTraits = { rateLimit };
  return createRoute({
    ...config,
    ...traitExtensions(traits),
    middleware: [
      publicRouteMarker(traits),
      ...(config.middleware === undefined ? [] : [config.middleware].flat()),
    ] as const,
  });
}
