import { PERMISSION_NAMES, PERMISSIONS, type Permission } from "../db/schema/users.ts";
import type { Principal } from "../durable-objects/sessions.ts";
import { effectivePermissions } from "./permissions.ts";

/** OpenID Connect Core §3.1.2.1 and §5.4: `openid` asks for an ID token; `profile` and `email` for claims. */
export const OIDC_SCOPES = ["openid", "profile", "email"] as const;
/**
 * The data scopes, over the user's own resources (documents, projects, uploads, notifications,
 * webhooks, searches, the account's settings), for API keys and OAuth sessions alike: `read` for
 * GET and HEAD of every route the user reaches that no permission guards, `write` for the other
 * methods too (it implies `read`). A route a delegated permission guards needs that permission
 * instead; one declared `withoutDataScope` needs neither (src/gateway/route-traits.ts).
 */
export const DATA_SCOPES = ["read", "write"] as const;
export type DataScope = (typeof DATA_SCOPES)[number];
/** The `admin` role as a scope: a token asked without it does not act as an administrator. */
export const ADMIN_SCOPE = "admin";
/** Every scope a client may ask for (`scopes_supported`): OpenID ones, data ones, `admin`, and each permission. */
export const SUPPORTED_SCOPES: readonly string[] = [...OIDC_SCOPES, ...DATA_SCOPES, ADMIN_SCOPE, ...PERMISSION_NAMES];

const SCOPE_DESCRIPTIONS: Record<(typeof OIDC_SCOPES)[number] | DataScope, string> = {
  openid: "Know who you are (your user id).",
  profile: "Read your profile: name, username, locale.",
  email: "Read your email address.",
  read: "Read your documents, projects, notifications and account settings.",
  write: "Create, change and delete your documents, projects and account settings.",
};

/** What a scope lets its holder do, in words for a consent page. */
export function describeScope(scope: string): string {
  if (scope === ADMIN_SCOPE) return "Act as an administrator.";
  if (scope in SCOPE_DESCRIPTIONS) return SCOPE_DESCRIPTIONS[scope as keyof typeof SCOPE_DESCRIPTIONS];
  return scope in PERMISSIONS ? PERMISSIONS[scope as Permission] : scope;
}

/**
 * The scope values of a `scope` parameter (RFC 6749 §3.3: space-delimited, order irrelevant), each
 * once; when the request has none, the client's registered `defaultScopes` (§3.3: "a pre-defined
 * default value"). Undefined when one is not a scope we know (`invalid_scope`).
 */
export function parseScope(
  scope: string | undefined,
  client: { defaultScopes: readonly string[] },
): string[] | undefined {
  const values = scope === undefined ? [...client.defaultScopes] : [...new Set(scope.split(" ").filter(Boolean))];
  return values.every((value) => SUPPORTED_SCOPES.includes(value)) ? values : undefined;
}

/**
 * What is granted of `requested`: the OpenID scopes as asked, `admin` if the user is one, and the
 * permissions the user holds now (RFC 6749 §3.3: the server may grant less than asked, and says
 * so in the response's `scope`). Space-separated, in the order of `SUPPORTED_SCOPES`.
 */
export function grantScope(requested: readonly string[], principal: Principal): string {
  // Every user holds the data scopes over their own resources.
  const held = new Set<string>([...OIDC_SCOPES, ...DATA_SCOPES, ...effectivePermissions(principal)]);
  if (principal.role === "admin") held.add(ADMIN_SCOPE);
  return SUPPORTED_SCOPES.filter((scope) => requested.includes(scope) && held.has(scope)).join(" ");
}

/**
 * The principal a session's requests act as: the user's, narrowed to the session's granted scope
 * when it has one (an administrator without the `admin` scope acts as a user holding the granted
 * permissions). A session without scope (the password grant) acts with all the user holds.
 */
export function scopedPrincipal(principal: Principal, scope: string | null): Principal {
  if (scope === null) return principal;
  const granted = new Set(scope.split(" "));
  const admin = principal.role === "admin" && granted.has(ADMIN_SCOPE);
  const permissions = effectivePermissions(principal).filter((p) => granted.has(p));
  // Required actions are the account's, whatever the token's scope (src/auth/required-actions.ts).
  return {
    role: admin ? "admin" : "user",
    status: principal.status,
    permissions: admin ? [] : permissions,
    ...(principal.requiredActions && { requiredActions: principal.requiredActions }),
  };
}

/**
 * An access token's `scope` claim (and introspection's): the session's grant as it stands now, or,
 * for a session without one (the password grant), the data scopes and every permission held.
 */
export function tokenScope(principal: Principal, scope: string | null): string {
  if (scope === null) return [...DATA_SCOPES, ...effectivePermissions(principal)].join(" ");
  return grantScope(scope.split(" "), principal);
}

/** Whether a caller may read, and change, the user's own resources (see `DATA_SCOPES`). */
export interface DataRights {
  read: boolean;
  write: boolean;
}

/**
 * The data rights of a set of scopes (a key's, or a session's grant): `write` with the `write`
 * scope, `read` with either. Null scopes (a password-grant session, first-party) hold both.
 */
export function dataRights(scopes: readonly string[] | null): DataRights {
  if (scopes === null) return { read: true, write: true };
  const write = scopes.includes("write");
  return { read: write || scopes.includes("read"), write };
}

/** Whether `scope` (space-separated) includes `value`. */
export function hasScope(scope: string | null | undefined, value: string): boolean {
  return (scope ?? "").split(" ").includes(value);
}
