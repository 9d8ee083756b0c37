import type { PublicUser } from "../db/queries/users.ts";
import type { ApiConfig } from "../pkg/config/config.ts";
import { parseRefreshToken } from "./auth-service.ts";
import type { OAuthClient } from "./clients.ts";
import { hasScope, tokenScope } from "./scopes.ts";
import { tokenManager, type VerifiedAccess } from "./tokens.ts";
import { type SessionsNamespace, withUserSessions } from "./user-sessions.ts";

/** What token revocation and introspection need: the configuration and the SESSIONS namespace. */
export interface TokenManagementDeps {
  config: ApiConfig;
  sessions: SessionsNamespace;
}

/** A token as presented to revocation or introspection: which session it names, and how. */
type Identified =
  | { kind: "access_token"; claims: VerifiedAccess }
  | { kind: "refresh_token"; userId: string; sessionId: string; secret: string };

/**
 * What a presented token is: an access token that verifies (signature, issuer, audience, expiry),
 * or something shaped like a refresh token; undefined for anything else. `hint` (RFC 7009 §2.1,
 * RFC 7662 §2.1) only orders the attempts.
 */
async function identify(config: ApiConfig, token: string): Promise<Identified | undefined> {
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
 * to the user's SESSIONS object. Only the client's own tokens are revoked; an unknown, invalid or foreign token changes nothing and is not
 * told apart (§2.2: 200 all the same). A refresh token must be the session's current one.
 *
 * @throws DependencyError("sessions") when the user's SESSIONS object is unreachable
 */
export async function revokeToken(deps: TokenManagementDeps, client: OAuthClient, token: string): Promise<void> {
  const identified = await identify(deps.config, token);
  if (!identified) return;
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
 * while it is the session's current one. Anything else is `{ active: false }`, whatever the reason.
 * One call to the user's SESSIONS object, which does not count as a use of the session.
 *
 * @throws DependencyError("sessions") when the user's SESSIONS object is unreachable
 */
export async function introspectToken(deps: TokenManagementDeps, token: string): Promise<Introspection> {
  const identified = await identify(deps.config, token);
  if (!identified) return { active: false };
  const issuer = deps.config.auth.tokens.issuer;
  const firstParty = deps.config.auth.tokens.clientId;
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
