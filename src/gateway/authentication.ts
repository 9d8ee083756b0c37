import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { AppEnv, AuthContext } from "../app/context.ts";
import { keyRights, looksLikeApiKey, parseApiKey } from "../auth/api-keys.ts";
import { effectivePermissions } from "../auth/permissions.ts";
import { InvalidTokenError, tokenManager, type VerifiedAccess } from "../auth/tokens.ts";
import type { Permission } from "../db/schema/users.ts";
import type { KeyAuthorization, Principal, RequiredAction } from "../durable-objects/sessions.ts";
import { ApiError } from "../pkg/errors/api-error.ts";
import { oauthDescription } from "./oauth-error-responses.ts";
import { routeKey } from "./rate-limit.ts";

export const REALM = "techcorp-api";

/**
 * What a request's Authorization header yields: none, a verified token, a well-formed API key (its
 * owner and hash; whether it is live is its owner's SESSIONS object's to say), or why it was refused.
 */
export type BearerToken =
  | { claims: VerifiedAccess }
  | { apiKey: { userId: string; hash: string } }
  | { error: InvalidTokenError }
  | undefined;

/**
 * Verifies the Bearer token of a request, if any, without leaving the isolate: signature with the
 * pinned algorithm, `iss`, `aud`, `exp` and `nbf` (with bounded clock skew). Whether its session is
 * still alive is the SESSIONS object's to say (see `gateway`). Another scheme (Basic …) is no
 * Bearer credential at all: anonymous, as RFC 6750 §3.1 treats it.
 */
export async function verifyBearer(c: Context<AppEnv>): Promise<BearerToken> {
  const header = c.req.header("authorization");
  if (header === undefined || !/^bearer(\s|$)/i.test(header)) return undefined;
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  try {
    if (!match?.[1]) throw new InvalidTokenError("the Authorization header is not a Bearer token");
    if (looksLikeApiKey(match[1])) {
      const apiKey = await parseApiKey(match[1], c.get("services").config.encryptionKey);
      if (!apiKey) throw new InvalidTokenError("the API key is malformed or not one of ours");
      return { apiKey };
    }
    const tokens = await tokenManager(c.get("services").config.auth.tokens);
    return { claims: await tokens.verifyAccessToken(match[1]) };
  } catch (error) {
    if (!(error instanceof InvalidTokenError)) throw error;
    return { error };
  }
}

/**
 * Records the caller of a verified token whose session is alive, with the current role and
 * permissions its SESSIONS object holds (not the token's: changes apply at the next request).
 */
export function authenticate(
  c: Context<AppEnv>,
  claims: VerifiedAccess,
  principal: Principal,
  authenticatedAt: number,
): void {
  const permissions = effectivePermissions(principal);
  c.set("auth", {
    userId: claims.sub,
    sessionId: claims.sid,
    role: principal.role,
    permissions,
    actor: { kind: "user", userId: claims.sub, role: principal.role, permissions },
    requiredActions: principal.requiredActions ?? [],
    authenticatedAt,
  });
  c.set("userId", claims.sub);
}

/**
 * Records the caller of a live API key: its owner, with the rights of `keyRights` (the key's
 * scopes ∩ the owner's current principal; never the admin role) and, for a project key, the
 * project row-level security confines it to (`app.project_id`).
 */
export function authenticateKey(c: Context<AppEnv>, userId: string, authorization: KeyAuthorization): void {
  const { key, principal } = authorization;
  const rights = keyRights(key.scopes, principal);
  c.set("auth", {
    userId,
    sessionId: "",
    role: "user",
    permissions: rights.permissions,
    actor: { kind: "user", userId, role: "user", permissions: rights.permissions, projectId: key.projectId },
    apiKey: { id: key.id, scopes: key.scopes, projectId: key.projectId, read: rights.read, write: rights.write },
    // The owner's required actions hold for their keys too; a key is never a recent sign-in (RFC 9470).
    requiredActions: principal.requiredActions ?? [],
    authenticatedAt: 0,
  });
  c.set("userId", userId);
}

/**
 * What an API key may reach, checked on every protected route (`requireAuth`): not a route
 * declared `interactiveOnly` (403, `keysRefused`); for a project key, only `/projects/{id}/…` of its project and
 * `/documents/…` (row-level security keeps those to the project's documents: `app.project_id`);
 * and, on a route no permission guards (`data`), `read` for GET and HEAD and `write` for the other
 * methods (403 `insufficient_scope` naming it, RFC 6750 §3.1). A route a permission guards needs
 * that permission among the key's scopes instead (`requirePermission`).
 */
function checkKeyReach(
  c: Context<AppEnv>,
  key: NonNullable<AuthContext["apiKey"]>,
  data: boolean,
  traits: RouteTraits,
): void {
  if (traits.interactiveOnly) throw keysRefused();
  const route = routeKey(c);
  if (key.projectId !== null) {
    const path = route.slice(route.indexOf(" ") + 1);
    const ownProject = path.startsWith("/projects/:id") && c.req.param("id") === key.projectId;
    if (!ownProject && !/^\/documents(\/|$)/.test(path)) {
      throw new ApiError("forbidden", {
        detail: `This key is bound to project ${key.projectId}: it reaches that project and its documents only.`,
      });
    }
  }
  if (!data) return;
  const scope = c.req.method === "GET" || c.req.method === "HEAD" ? "read" : "write";
  if (!key[scope]) {
    throw new ApiError("forbidden", {
      detail: `This needs the "${scope}" scope.`,
      headers: { "WWW-Authenticate": challenge({ missingScope: scope, kind: "scope" }) },
    });
  }
}

/**
 * The 403 refusing an API key what only an interactive sign-in may do: a route declared
 * `interactiveOnly`, or the part of a request a handler keeps from keys (an email address in
 * `PATCH /users/{id}`). A stolen key must not mint more keys or take the account over.
 */
export function keysRefused(): ApiError {
  return new ApiError("forbidden", {
    detail: "API keys cannot manage keys, sessions, second factors, passwords or email addresses: sign in for that.",
  });
}

/**
 * The traits of the route a request is served by (the guard of the first matching route that
 * authenticates: `GET /users/me`, not `GET /users/{id}` which matches the URL too), or undefined
 * when no route authenticates there: the gateway counts a request by its user only on such routes
 * (a token sent to an anonymous route authenticates nothing there).
 */
export function servedRouteTraits(c: Context<AppEnv>): RouteTraits | undefined {
  for (const route of matchedRoutes(c)) {
    const traits = guardTraits.get(route.handler);
    if (traits) return traits;
  }
  return undefined;
}

/**
 * The Bearer challenge of a refused request (RFC 6750 §3): no error code when no Bearer
 * credentials were sent, `invalid_token` for a refused token, `insufficient_scope` naming the
 * permission (as a scope) that was missing. `error_description` keeps to the characters §3 allows.
 */
function challenge(
  refusal: { error?: InvalidTokenError | undefined; missingScope?: string; kind?: "permission" | "scope" } = {},
): string {
  const realm = `Bearer realm="${REALM}"`;
  if (refusal.missingScope) {
    return `${realm}, error="insufficient_scope", error_description="This needs the '${refusal.missingScope}' ${refusal.kind ?? "permission"}.", scope="${refusal.missingScope}"`;
  }
  if (!refusal.error) return realm;
  return `${realm}, error="invalid_token", error_description="${oauthDescription(refusal.error.description)}"`;
}

/**
 * What a protected route declares about itself (`protectedRoute`'s third argument), read by its
 * guard and by the gateway instead of matching paths:
 * - `interactiveOnly`: an API key is refused (403) whatever its scopes: managing keys, sessions,
 *   second factors, passwords, email addresses, deleting the account.
 * - `requiredActionFor`: the required actions (src/auth/required-actions.ts) this route carries
 *   out, so a session with one of them pending may call it.
 * - `duringRequiredActions`: any restricted session may call it (who am I, logging out).
 * - `showsSessions`, `showsKeyUsage`: the gateway's SESSIONS call reads the caller's sessions or
 *   API keys' last uses along with the session check (`c.get("liveSessions")`, `c.get("keyUsage")`).
 */
export interface RouteTraits {
  interactiveOnly?: boolean;
  requiredActionFor?: readonly RequiredAction[];
  duringRequiredActions?: boolean;
  showsSessions?: boolean;
  showsKeyUsage?: boolean;
}

/** The route middleware that authenticate (requireAuth, requirePermission, requireAdmin), as created, with their route's traits. */
const guardTraits = new WeakMap<object, RouteTraits>();

/**
 * The traits a route declares, as the OpenAPI operation's `x-interactive-only` and
 * `x-required-action-for` extensions (so clients, and the test walking the document, see them).
 */
export function traitExtensions(traits: RouteTraits): Record<`x-${string}`, unknown> {
  return {
    ...(traits.interactiveOnly && { "x-interactive-only": true }),
    ...(traits.requiredActionFor && { "x-required-action-for": traits.requiredActionFor }),
  };
}

/** Whether a session with `pending` required actions may call a route with `traits`. */
function allowedWith(pending: readonly RequiredAction[], traits: RouteTraits): boolean {
  if (pending.length === 0 || traits.duringRequiredActions) return true;
  return pending.some((action) => traits.requiredActionFor?.includes(action));
}

/**
 * The authenticated caller of the request (set by the gateway from a verified token and its live
 * session). The one way a handler or helper reads the caller: it fails closed, so a route declared
 * without a guard (plain `createRoute` instead of `protectedRoute`) still refuses an anonymous
 * request rather than answering 500.
 * @throws ApiError `unauthorized` (401) with the Bearer challenge (`WWW-Authenticate`, RFC 6750 §3):
 * `invalid_token` naming why a presented token was refused, no error code when none was sent. The
 * very problem `requireAuth` answers.
 */
export function callerOf(c: Context<AppEnv>): AuthContext {
  const auth = c.get("auth");
  if (auth) return auth;
  const error = c.get("authError");
  throw new ApiError("unauthorized", {
    detail: error ? `Access token refused: ${error.description}.` : "This route needs a Bearer access token.",
    headers: { "WWW-Authenticate": challenge({ error }) },
  });
}

/**
 * Route middleware: 401 with WWW-Authenticate unless the caller is authenticated (`callerOf`); for
 * an API key, 403 unless the key reaches the route (`checkKeyReach`; `data`: the route needs the
 * `read` or `write` scope, false when a permission or the admin role guards it instead); 403
 * `required_action` when the session has required actions pending and the route's `traits` do not
 * let it through (`requiredActionFor`, `duringRequiredActions`; src/auth/required-actions.ts): a staff account without MFA, a temporary
 * password. Every protected route passes here, so the restriction is decided in one place.
 */
export function requireAuth(data = true, traits: RouteTraits = {}): MiddlewareHandler<AppEnv> {
  const middleware: MiddlewareHandler<AppEnv> = async function requireAuth(c, next) {
    const { apiKey, requiredActions } = callerOf(c);
    if (apiKey) checkKeyReach(c, apiKey, data, traits);
    if (!allowedWith(requiredActions, traits)) {
      throw new ApiError("required_action", {
        detail: `Complete the required actions first: ${requiredActions.join(", ")}.`,
        extensions: { requiredActions },
      });
    }
    await next();
  };
  guardTraits.set(middleware, traits);
  return middleware;
}

/**
 * Route middleware: 401 when anonymous, 403 unless the caller holds `permission` (with an
 * `insufficient_scope` challenge: permissions are the tokens' scopes).
 */
export function requirePermission(permission: Permission, traits: RouteTraits = {}): MiddlewareHandler<AppEnv> {
  const authenticated = requireAuth(false, traits);
  const middleware: MiddlewareHandler<AppEnv> = async function requirePermission(c, next) {
    await authenticated(c, async () => {
      if (!callerOf(c).permissions.includes(permission)) {
        throw new ApiError("forbidden", {
          detail: `This needs the "${permission}" permission.`,
          headers: { "WWW-Authenticate": challenge({ missingScope: permission }) },
        });
      }
      await next();
    });
  };
  guardTraits.set(middleware, traits);
  return middleware;
}

/**
 * Route middleware: 401 when anonymous, 403 (`forbidden`, no scope to name) unless the caller's
 * role is `admin`: for what changes every user's experience and so is no delegated permission's
 * (holding `analytics:read` does not let one suppress queries).
 */
export function requireAdmin(traits: RouteTraits = {}): MiddlewareHandler<AppEnv> {
  const authenticated = requireAuth(false, traits);
  const middleware: MiddlewareHandler<AppEnv> = async function requireAdmin(c, next) {
    await authenticated(c, async () => {
      if (callerOf(c).role !== "admin") throw new ApiError("forbidden", { detail: "Only administrators may do this." });
      await next();
    });
  };
  guardTraits.set(middleware, traits);
  return middleware;
}

/**
 * Refuses a caller whose session was signed in to more than `maxAgeSeconds` ago (a stolen or
 * forgotten session must not do what cannot be undone): 401 `insufficient_user_authentication`
 * with the RFC 9470 §3 challenge (`error="insufficient_user_authentication"`, `max_age`) and
 * `max_age` in the problem. Signing in again gives a session that passes.
 * @returns the caller, as `callerOf`
 */
export function requireRecentAuthentication(c: Context<AppEnv>, maxAgeSeconds: number): AuthContext {
  const caller = callerOf(c);
  if (Date.now() - caller.authenticatedAt <= maxAgeSeconds * 1000) return caller;
  const description = `This needs a sign-in within the last ${maxAgeSeconds} seconds; sign in again.`;
  throw new ApiError("insufficient_user_authentication", {
    detail: description,
    headers: {
      "WWW-Authenticate": `Bearer realm="${REALM}", error="insufficient_user_authentication", error_description="${oauthDescription(description)}", max_age=${maxAgeSeconds}`,
    },
    extensions: { max_age: maxAgeSeconds },
  });
}
