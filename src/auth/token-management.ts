import { SYSTEM } from "../db/actor.ts";
import type { HttpDatabase } from "../db/client.ts";
import type { RequestOrigin } from "../db/queries/audit.ts";
import type { PublicUser } from "../db/queries/users.ts";
import type { ApiConfig } from "../pkg/config/config.ts";
import { keyRights, looksLikeApiKey, parseApiKey, revokeApiKey } from "./api-keys.ts";
import { parseRefreshToken } from "./auth-service.ts";
import type { OAuthClient } from "./clients.ts";
import { hasScope, tokenScope } from "./scopes.ts";
import { tokenManager, type VerifiedAccess } from "./tokens.ts";
import { type SessionsNamespace, withUserSessions } from "./user-sessions.ts";

/**
 * What token revocation and introspection need: the configuration, the SESSIONS namespace, and
 * Postgres (HTTP mode) for the record of an API key revoked here.
 */
export interface TokenManagementDeps {
  config: ApiConfig;
  sessions: SessionsNamespace;
  http: HttpDatabase;
}

/** A token as presented to revocation or introspection: which session it names, and how. */
type Identified =
  | { kind: "api_key"; userId: string; hash: string }
  | { kind: "access_token"; claims: VerifiedAccess }
  | { kind: "refresh_token"; userId: string; sessionId: string; secret: string };

/**
 * What a presented token is: an access token that verifies (signature, issuer, audience, expiry),
 * or something shaped like a refresh token; undefined for anything else. `hint` (RFC 7009 §2.1,
 * RFC 7662 §2.1) only orders the attempts.
 */
async function identify(config: ApiConfig, token: string): Promise<Identified | undefined> {
  if (looksLikeApiKey(token)) {
    const key = await parseApiKey(token, config.encryptionKey);
    return key && { kind: "api_key", ...key };
  }
  const refresh = parseRefreshToken(token);
  if (refresh) return { kind: "refresh_token", ...refresh };
  const tokens = await tokenManager(config.auth.tokens);
  try {
    return { kind: "access_token", claims: await tokens.verifyAccessToken(token) };
  } catch {
    return undefined;
  }
}

/**
 * Token revocation (RFC 7009 §2.1): a refresh token ends its session, and so does an access token
 * (through its `sid`: the gateway then refuses it and the session's refresh token), in one call
 * to the user's SESSIONS object. An API key (`tcp_…`) is revoked for whoever presents it (the
 * holder may revoke, §2.1; a leaked key's finder too): its live copy, then its record and
 * `api_key.revoked` (the owner as actor, as a key acts as its owner) in one HTTP batch. Only the
 * client's own OAuth tokens are revoked; an unknown, invalid or foreign token changes nothing and is not
 * told apart (§2.2: 200 all the same). A refresh token must be the session's current one.
 *
 * @throws DependencyError("sessions") when the user's SESSIONS object is unreachable
 */
export async function revokeToken(
  deps: TokenManagementDeps,
  client: OAuthClient,
  token: string,
  origin: RequestOrigin,
): Promise<void> {
  const identified = await identify(deps.config, token);
  if (!identified) return;
  if (identified.kind === "api_key") {
    // RFC 7009 §2.1 lets the holder revoke: a key found leaked is revoked by whoever presents it,
    // whichever client (keys belong to no client), as GitHub's credential revocation API does.
    const { userId, hash } = identified;
    const id = await withUserSessions(deps.sessions, userId, (stub) => stub.keyIdOf(hash));
    if (id === null) return;
    await revokeApiKey(
      { http: deps.http, sessions: deps.sessions },
      { actor: SYSTEM, actorId: userId, userId, id, origin },
    );
    return;
  }
  const firstParty = deps.config.auth.tokens.clientId;
  if (identified.kind === "access_token") {
    const { claims } = identified;
    if (claims.clientId !== client.id) return;
    await withUserSessions(deps.sessions, claims.sub, (stub) => stub.revoke(claims.sid));
    return;
  }
  const { userId, sessionId, secret } = identified;
  await withUserSessions(deps.sessions, userId, (stub) =>
    stub.revokeByRefresh(sessionId, secret, { id: client.id, legacyId: firstParty }),
  );
}

/** RFC 7662 §2.2 introspection response: `active`, and for an active token what it is. */
export type Introspection =
  | { active: false }
  | {
      active: true;
      scope: string;
      token_type: "api_key";
      sub: string;
      exp: number;
      role: string;
    }
  | {
      active: true;
      scope: string;
      client_id: string;
      token_type: "Bearer" | "refresh_token";
      sub: string;
      sid: string;
      iss: string;
      aud?: string;
      exp?: number;
      iat?: number;
      jti?: string;
      role: string;
    };

/**
 * Token introspection (RFC 7662 §2.2): `active` only for a token that verifies and whose session
 * is alive now (not ended, expired, revoked or replaced; the account active); a refresh token only
 * while it is the session's current one; an API key while it is unrevoked and unexpired and its
 * owner active (`token_type: "api_key"`, `scope` its rights now, `sub`, `exp`; no use recorded). Anything else is `{ active: false }`, whatever the reason.
 * One call to the user's SESSIONS object, which does not count as a use of the session.
 *
 * @throws DependencyError("sessions") when the user's SESSIONS object is unreachable
 */
export async function introspectToken(deps: TokenManagementDeps, token: string): Promise<Introspection> {
  const identified = await identify(deps.config, token);
  if (!identified) return { active: false };
  const issuer = deps.config.auth.tokens.issuer;
  const firstParty = deps.config.auth.tokens.clientId;
  if (identified.kind === "api_key") {
    const { userId, hash } = identified;
    const live = await withUserSessions(deps.sessions, userId, (stub) => stub.inspectKey(hash));
    if (!live) return { active: false };
    const rights = keyRights(live.key.scopes, live.principal);
    const scope = [
      ...(rights.data.write ? ["write"] : []),
      ...(rights.data.read ? ["read"] : []),
      ...rights.permissions,
    ];
    return {
      active: true,
      // What the key's requests hold now: its scopes ∩ its owner's current permissions.
      scope: scope.join(" "),
      token_type: "api_key",
      sub: userId,
      exp: Math.floor(live.key.expiresAt / 1000),
      // A key never acts as an administrator (`keyRights`), whatever its owner's role.
      role: "user",
    };
  }
  if (identified.kind === "access_token") {
    const { claims } = identified;
    const live = await withUserSessions(deps.sessions, claims.sub, (stub) => stub.inspect(claims.sid));
    if (!live) return { active: false };
    return {
      active: true,
      // The permissions the token's requests hold now (the gateway reads them from the session).
      scope: tokenScope(live.principal, live.session.scope),
      client_id: claims.clientId,
      token_type: "Bearer",
      sub: claims.sub,
      sid: claims.sid,
      iss: issuer,
      aud: deps.config.auth.tokens.audience,
      exp: claims.exp,
      iat: claims.iat,
      jti: claims.jti,
      role: live.principal.role,
    };
  }
  const { userId, sessionId, secret } = identified;
  const live = await withUserSessions(deps.sessions, userId, (stub) => stub.inspect(sessionId, secret));
  if (!live) return { active: false };
  return {
    active: true,
    scope: tokenScope(live.principal, live.session.scope),
    client_id: live.session.clientId ?? firstParty,
    token_type: "refresh_token",
    sub: userId,
    sid: sessionId,
    iss: issuer,
    exp: Math.floor(Math.min(live.session.expiresAt, live.session.lastUsedAt + live.session.idleTimeoutMs) / 1000),
    role: live.principal.role,
  };
}

/** OpenID Connect Core §5.3.2 UserInfo claims (times in epoch seconds). */
export interface UserInfo {
  sub: string;
  name?: string;
  preferred_username?: string;
  /** Epoch seconds. */
  updated_at?: number;
  email?: string;
  email_verified?: boolean;
}

/** OpenID Connect Core §5.3.2 UserInfo claims, by scope (§5.4): `profile`, `email`; `sub` always. */
export function userInfoClaims(user: PublicUser, scope: string): UserInfo {
  return {
    sub: user.id,
    ...(hasScope(scope, "profile") && {
      name: user.displayName ?? user.username,
      preferred_username: user.username,
      updated_at: Math.floor(user.updatedAt.getTime() / 1000),
    }),
    ...(hasScope(scope, "email") && { email: user.email, email_verified: user.emailVerified }),
  };
}
