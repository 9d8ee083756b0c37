import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv, AuthContext } from "../app/context.ts";
import { keyRights, looksLikeApiKey, parseApiKey } from "../auth/api-keys.ts";
import { effectivePermissions } from "../auth/permissions.ts";
import { type DataRights, type DataScope, dataRights } from "../auth/scopes.ts";
import { InvalidTokenError, tokenManager, type VerifiedAccess } from "../auth/tokens.ts";
import type { Permission } from "../db/schema/users.ts";
import type { KeyAuthorization, Principal, RequiredAction } from "../durable-objects/sessions.ts";
import { ApiError } from "../pkg/errors/api-error.ts";
import { oauthDescription } from "./oauth-error-responses.ts";
import { declareRoute, type RouteTraits } from "./route-traits.ts";

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
 * permissions its SESSIONS object holds (not the token's: changes apply at the next request), as
 * narrowed by the session's granted `scope` (null: a password-grant session, which holds all;
 * the data rights of `dataRights`).
 */
export function authenticate(
  c: Context<AppEnv>,
  claims: VerifiedAccess,
  session: { principal: Principal; scope: string | null; authenticatedAt: number },
): void {
  const { principal, authenticatedAt } = session;
  const permissions = effectivePermissions(principal);
  c.set("auth", {
    userId: claims.sub,
    sessionId: claims.sid,
    role: principal.role,
    permissions,
    actor: { kind: "user", userId: claims.sub, role: principal.role, permissions },
    data: dataRights(session.scope === null ? null : session.scope.split(" ")),
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
    data: rights.data,
    apiKey: { id: key.id, scopes: key.scopes, projectId: key.projectId },
    // The owner's required actions hold for their keys too; a key is never a recent sign-in (RFC 9470).
    requiredActions: principal.requiredActions ?? [],
    authenticatedAt: 0,
  });
  c.set("userId", userId);
}

/**
 * What an API key may reach beyond its scopes, checked on every protected route (`requireAuth`):
 * not a route declared `interactiveOnly` (403, `keysRefused`); for a project key, only a route
 * declared `projectKeys`: with `{ param }`, when that path parameter is the key's project
 * (`/projects/{id}/…`); with `"row-level-security"`, anywhere (row-level security keeps it to the
 * project's documents: `app.project_id`). Anything else is a 403 naming the project.
 */
function checkKeyReach(c: Context<AppEnv>, key: NonNullable<AuthContext["apiKey"]>, traits: RouteTraits): void {
  if (traits.interactiveOnly) throw keysRefused();
  if (key.projectId === null) return;
  const reach = traits.projectKeys;
  const reached = reach === "row-level-security" || (reach !== undefined && c.req.param(reach.param) === key.projectId);
  if (!reached) {
    throw new ApiError("forbidden", {
      detail: `This key is bound to project ${key.projectId}: it reaches that project and its documents only.`,
    });
  }
}

/**
 * The data scope a route needs of its caller (src/auth/scopes.ts, `DATA_SCOPES`): none when a
 * permission or the admin role guards it (`guarded`; the permission is the scope then) or it is
 * declared `withoutDataScope`; otherwise `read` for GET (which serves HEAD too) and `write` for
 * every other method. Read once, where the route is declared.
 */
export function requiredDataScope(method: string, traits: RouteTraits, guarded: boolean): DataScope | null {
  if (guarded || traits.withoutDataScope) return null;
  return method.toUpperCase() === "GET" || method.toUpperCase() === "HEAD" ? "read" : "write";
}

/**
 * The one rule for data scopes, for every caller alike (an API key's scopes, an OAuth session's
 * grant; a password-grant session holds both): a route needing `scope` refuses a caller whose
 * rights lack it with 403 `insufficient_scope` naming it (RFC 6750 §3.1).
 */
function checkDataScope(rights: DataRights, scope: DataScope | null): void {
  if (scope === null || rights[scope]) return;
  throw new ApiError("forbidden", {
    detail: `This needs the "${scope}" scope.`,
    headers: { "WWW-Authenticate": challenge({ missingScope: scope, kind: "scope" }) },
  });
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
 * an API key, 403 unless the key reaches the route (`checkKeyReach`); 403 `insufficient_scope`
 * unless the caller, key or session, holds the data scope the route needs (`scope`, from
 * `requiredDataScope`; `checkDataScope`); 403 `required_action` when the session has required
 * actions pending and the route's `traits` do not let it through (`requiredActionFor`,
 * `duringRequiredActions`; src/auth/required-actions.ts): a staff account without MFA, a temporary
 * password. Every protected route passes here, so the restriction is decided in one place.
 */
export function requireAuth(scope: DataScope | null, traits: RouteTraits = {}): MiddlewareHandler<AppEnv> {
  const middleware: MiddlewareHandler<AppEnv> = async function requireAuth(c, next) {
    const { apiKey, data, requiredActions } = callerOf(c);
    if (apiKey) checkKeyReach(c, apiKey, traits);
    checkDataScope(data, scope);
    if (!allowedWith(requiredActions, traits)) {
      throw new ApiError("required_action", {
        detail: `Complete the required actions first: ${requiredActions.join(", ")}.`,
        extensions: { requiredActions },
      });
    }
    await next();
  };
  declareRoute(middleware, { traits, authenticates: true });
  return middleware;
}

/**
 * Route middleware: 401 when anonymous, 403 unless the caller holds `permission` (with an
 * `insufficient_scope` challenge: permissions are the tokens' scopes).
 */
export function requirePermission(permission: Permission, traits: RouteTraits = {}): MiddlewareHandler<AppEnv> {
  const authenticated = requireAuth(null, traits);
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
  declareRoute(middleware, { traits, authenticates: true });
  return middleware;
}

/**
 * Route middleware: 401 when anonymous, 403 (`forbidden`, no scope to name) unless the caller's
 * role is `admin`: for what changes every user's experience and so is no delegated permission's
 * (holding `analytics:read` does not let one suppress queries).
 */
export function requireAdmin(traits: RouteTraits = {}): MiddlewareHandler<AppEnv> {
  const authenticated = requireAuth(null, traits);
  const middleware: MiddlewareHandler<AppEnv> = async function requireAdmin(c, next) {
    await authenticated(c, async () => {
      if (callerOf(c).role !== "admin") throw new ApiError("forbidden", { detail: "Only administrators may do this." });
      await next();
    });
  };
  declareRoute(middleware, { traits, authenticates: true });
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
