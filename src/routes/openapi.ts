import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import type { Permission } from "../db/schema/users.ts";
import {
  type RouteTraits,
  requireAdmin,
  requireAuth,
  requirePermission,
  traitExtensions,
} from "../gateway/authentication.ts";
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

const guardOf = (access: Access, traits: RouteTraits) => {
  if (access === "caller") return requireAuth(true, traits);
  return access === "admin" ? requireAdmin(traits) : requirePermission(access, traits);
};

/**
 * Declares a route that needs an access token: `createRoute` with the `bearerAuth` security
 * scheme, the guard middleware (`requireAuth`; `requireAdmin` for `"admin"`; `requirePermission`
 * when `access` names a permission) and their problems documented: 401 (missing, expired, forged or
 * revoked token, with `WWW-Authenticate`, RFC 6750 §3), and 403 for a caller who is not an
 * administrator or lacks the permission, or an API key without the scope the route needs or that
 * may not reach it (`insufficient_scope`, src/gateway/authentication.ts).
 * `config.responses` lists the route's own outcomes; the guard's are added to them. `traits` says
 * what the route is, for the guard and the gateway to read off the route rather than its path
 * (`RouteTraits`: interactive-only, the required actions it carries out …); the ones clients need
 * are in the operation as `x-interactive-only` and `x-required-action-for`.
 */
export function protectedRoute<const R extends Omit<RouteConfig, "security" | "middleware">>(
  access: Access,
  config: R,
  traits: RouteTraits = {},
) {
  const guard = guardOf(access, traits);
  // Any protected route refuses an API key without the scope it needs (src/gateway/authentication.ts).
  const refusals = problemResponses(401, 403);
  const route = createRoute({
    ...config,
    ...traitExtensions(traits),
    security: BEARER,
    middleware: [guard] as const,
    responses: { ...refusals, ...config.responses },
  });
  // The same members, with security and guard where hand-written declarations put them (after the
  // description, before the request), so that the document's operations keep their key order.
  const { request, responses, ...declaration } = route;
  return { ...declaration, ...(request === undefined ? {} : { request }), responses } as typeof route;
}
