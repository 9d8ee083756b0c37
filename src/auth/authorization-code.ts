import { batchAsActor, firstRow, type Queryable, SYSTEM } from "../db/actor.ts";
import { NoRowsAffectedError } from "../db/affected.ts";
import { type RequestOrigin, recordSecurityEvent } from "../db/queries/audit.ts";
import {
  type PublicUser,
  recordUserChanges,
  selectMfa,
  selectPermissions,
  type UserChanges,
} from "../db/queries/users.ts";
import type { Principal, Redemption, Sessions } from "../durable-objects/sessions.ts";
import type { AuthConfig } from "../pkg/config/config.ts";
import { ApiError, invalidField, oauthError } from "../pkg/errors/api-error.ts";
import {
  type AuthDeps,
  principalOf,
  sessionLifetimes,
  staffLifetimes,
  type TokenResponse,
  tokenResponse,
} from "./auth-service.ts";
import { findClient, type OAuthClient, redirectUriAllowed } from "./clients.ts";
import { grantScope, parseScope } from "./scopes.ts";
import { withUserSessions } from "./user-sessions.ts";

/** How long an authorization code lives (ms): RFC 6749 §4.1.2 recommends at most 10 minutes; 60 s is plenty. */
export const CODE_TTL_MS = 60_000;

/** The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID Connect Core §3.1.2.1). */
export const AUTHORIZATION_PARAMETERS = [
  "response_type",
  "client_id",
  "redirect_uri",
  "scope",
  "state",
  "code_challenge",
  "code_challenge_method",
  "nonce",
] as const;

export type AuthorizationParameters = Partial<Record<(typeof AUTHORIZATION_PARAMETERS)[number], string>>;

/** A valid authorization request: the client, where to answer, what was asked. */
export interface AuthorizationRequest {
  client: OAuthClient;
  redirectUri: string;
  /** The scopes asked for, each once. */
  scope: string[];
  state: string | undefined;
  nonce: string | undefined;
  codeChallenge: string;
}

/** An error to send back to the client at its redirect URI (RFC 6749 §4.1.2.1). */
export interface RedirectedError {
  redirectUri: string;
  state: string | undefined;
  error: "invalid_request" | "unsupported_response_type" | "invalid_scope" | "unauthorized_client" | "access_denied";
  description: string;
}

export type AuthorizationCheck = { ok: true; request: AuthorizationRequest } | { ok: false; redirect: RedirectedError };

/** RFC 7636 §4.2: the S256 challenge is base64url without padding of a 32-byte digest: 43 characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Checks an authorization request. The client and its redirect URI first: while either is unknown,
 * nothing may be sent to the redirect URI (RFC 6749 §4.1.2.1, open redirector §10.15), so those
 * errors are thrown (a 400 problem shown to the user). Every later error goes back to the client.
 * PKCE is required, `S256` only: a missing challenge or `plain` is refused (RFC 7636 §4.4.1; RFC
 * 9700 §2.1.1: no downgrade).
 *
 * @param repeated names of parameters sent more than once (RFC 6749 §3.1: refused)
 * @param where where the parameters came from, for the errors (the page's query, its form's body)
 * @throws ApiError `validation_failed` naming `client_id` or `redirect_uri` when either is missing,
 *   repeated, unknown or not registered for the authorization code grant
 */
export function checkAuthorizationRequest(
  auth: Pick<AuthConfig, "clients">,
  parameters: AuthorizationParameters,
  repeated: ReadonlySet<string> = new Set(),
  where: "query" | "body" = "query",
): AuthorizationCheck {
  const clientId = parameters.client_id;
  if (!clientId || repeated.has("client_id")) throw invalidField(where, "/client_id", "required, once");
  const client = findClient(auth, clientId);
  if (!client?.grantTypes.includes("authorization_code")) {
    throw invalidField(where, "/client_id", "not a client registered for the authorization code grant");
  }
  const redirectUri = parameters.redirect_uri;
  if (!redirectUri || repeated.has("redirect_uri")) throw invalidField(where, "/redirect_uri", "required, once");
  if (!redirectUriAllowed(client, redirectUri)) {
    throw invalidField(where, "/redirect_uri", "not a redirect URI registered for this client");
  }
  const state = repeated.has("state") ? undefined : parameters.state;
  const refuse = (error: RedirectedError["error"], description: string): AuthorizationCheck => ({
    ok: false,
    redirect: { redirectUri, state, error, description },
  });
  if (repeated.size > 0) return refuse("invalid_request", `Repeated parameters: ${[...repeated].join(", ")}.`);
  if (parameters.response_type !== "code") {
    return refuse("unsupported_response_type", "Only response_type=code is supported.");
  }
  if (!parameters.code_challenge) return refuse("invalid_request", "PKCE is required: send code_challenge (S256).");
  if (parameters.code_challenge_method !== "S256") {
    return refuse("invalid_request", "code_challenge_method must be S256 (plain is not accepted).");
  }
  if (!S256_CHALLENGE.test(parameters.code_challenge)) {
    return refuse("invalid_request", "code_challenge is not an S256 challenge (43 base64url characters).");
  }
  const scope = parseScope(parameters.scope, client);
  if (!scope) return refuse("invalid_scope", "An unknown scope was asked for.");
  return {
    ok: true,
    request: {
      client,
      redirectUri,
      scope,
      state,
      nonce: parameters.nonce,
      codeChallenge: parameters.code_challenge,
    },
  };
}

/**
 * The authorization response's address (RFC 6749 §4.1.2): the redirect URI with `code` or
 * `error`/`error_description`, `state` as received, and `iss` (RFC 9207, against mix-up attacks).
 */
export function authorizationResponse(
  redirectUri: string,
  issuer: string,
  outcome: { code: string; state: string | undefined } | RedirectedError,
): string {
  const url = new URL(redirectUri);
  if ("code" in outcome) {
    url.searchParams.append("code", outcome.code);
  } else {
    url.searchParams.append("error", outcome.error);
    url.searchParams.append("error_description", outcome.description);
  }
  if (outcome.state !== undefined) url.searchParams.append("state", outcome.state);
  url.searchParams.append("iss", issuer);
  return url.href;
}

/**
 * How the user signed in: RFC 8176 method values, where from (for the security event recorded
 * with the login) and, for an MFA login, its spent `mfa_token`.
 */
export interface Authentication {
  amr: string[];
  origin: RequestOrigin;
  once?: { jti: string; expiresAt: number };
  /** To record with the login (a rehashed password). */
  changes?: UserChanges;
}

/**
 * Issues an authorization code to a user who has just signed in on the authorization endpoint.
 * The login is recorded (with its `user.login_succeeded` security event) and the user's grants
 * read in one HTTP batch; the code (bound to the
 * client, redirect URI, PKCE challenge, granted scope and nonce) is stored in the user's SESSIONS
 * object in one call, which also spends an MFA login's `mfa_token`.
 *
 * @returns the code, `<userId>.<codeId>.<secret>`
 * @throws NoRowsAffectedError when the user's row is gone; `invalid_grant` when the `mfa_token` was spent
 */
export async function issueAuthorizationCode(
  deps: AuthDeps,
  user: PublicUser,
  request: AuthorizationRequest,
  authentication: Authentication,
): Promise<string> {
  const [recorded, granted, mfa] = await batchAsActor(deps.http, SYSTEM, (db) => [
    recordUserChanges(db, { id: user.id, changes: { ...authentication.changes, lastLoginAt: new Date() } }),
    selectPermissions(db, { userId: user.id }),
    selectMfa(db, { userId: user.id }),
    recordLogin(db, user.id, authentication, { grant: "authorization_code", clientId: request.client.id }),
  ]);
  const current = firstRow(recorded);
  if (!current) throw new NoRowsAffectedError("recording the login", 1, 0);
  // With its required actions (a staff account without MFA, a temporary password), as every login's.
  const principal: Principal = principalOf(current, granted, firstRow(mfa));
  const grant = {
    clientId: request.client.id,
    redirectUri: request.redirectUri,
    codeChallenge: request.codeChallenge,
    scope: grantScope(request.scope, principal),
    nonce: request.nonce ?? null,
    authTime: Math.floor(Date.now() / 1000),
    amr: authentication.amr,
  };
  const issued = await withUserSessions(deps.sessions, user.id, (stub) =>
    stub.issueCode(grant, principal, CODE_TTL_MS, authentication.once),
  );
  if (!issued) throw oauthError("invalid_grant", "invalid_grant", "The mfa_token was already used; sign in again.");
  return `${user.id}.${issued.id}.${issued.secret}`;
}

/** The `user.login_succeeded` security event of a login through an OAuth flow, for its batch. */
export function recordLogin(
  db: Queryable,
  userId: string,
  authentication: Authentication,
  details: { grant: string; clientId: string },
) {
  return recordSecurityEvent(db, {
    action: "user.login_succeeded",
    actorId: userId,
    targetUserId: userId,
    origin: authentication.origin,
    details: { method: authentication.amr.includes("mfa") ? "mfa" : "password", ...details },
  });
}

/** Splits `<userId>.<codeId>.<secret>`; undefined for anything else. */
function parseCode(code: string): { userId: string; codeId: string; secret: string } | undefined {
  const match = /^([0-9a-f-]{36})\.([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/.exec(code);
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  return { userId: match[1], codeId: match[2], secret: match[3] };
}

/**
 * The authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.5): the code is consumed and the
 * session started in one call to the user's SESSIONS object (no database round trip). A code seen
 * before ends the session it started.
 *
 * @throws `invalid_grant` for an unknown, expired, replayed or foreign code, another redirect
 *   URI, or a verifier that does not match the challenge
 */
export async function redeemAuthorizationCode(
  deps: AuthDeps,
  client: OAuthClient,
  input: { code: string; redirectUri: string; codeVerifier: string; origin: RequestOrigin },
): Promise<TokenResponse> {
  const parsed = parseCode(input.code);
  if (!parsed) throw oauthError("invalid_grant", "invalid_grant", "The authorization code is invalid.");
  const redemption: Redemption = await withUserSessions(deps.sessions, parsed.userId, async (stub) =>
    // RPC types a union's members apart; the object answers a Redemption.
    (stub as unknown as Pick<Sessions, "redeemCode">).redeemCode(
      parsed.codeId,
      { secret: parsed.secret, clientId: client.id, redirectUri: input.redirectUri, codeVerifier: input.codeVerifier },
      { ...sessionLifetimes(deps), staff: staffLifetimes(deps.config) },
    ),
  );
  if (redemption.outcome === "replayed") {
    // An attack, or a client's bug: either way someone should see it. Its own write, on this path only.
    await batchAsActor(deps.http, SYSTEM, (db) => [
      recordSecurityEvent(db, {
        action: "oauth.code_replayed",
        outcome: "failure",
        actorId: null,
        targetUserId: parsed.userId,
        origin: input.origin,
        details: { clientId: client.id },
      }),
    ]);
    throw oauthError(
      "invalid_grant",
      "invalid_grant",
      "The authorization code was already used; the tokens it issued are revoked.",
    );
  }
  if (redemption.outcome !== "issued") {
    throw oauthError(
      "invalid_grant",
      "invalid_grant",
      "The authorization code is invalid or expired, or was issued for another client, redirect URI or code_verifier.",
    );
  }
  const { session, secret, principal, grant } = redemption;
  return tokenResponse(deps, {
    userId: parsed.userId,
    session,
    secret,
    principal,
    authentication: { authTime: grant.authTime, nonce: grant.nonce, amr: grant.amr },
  });
}

/** @throws ApiError `forbidden` (403): for a sign-in form whose CSRF token or origin does not match. */
export function csrfRefused(): ApiError {
  return new ApiError("forbidden", {
    detail: "The sign-in form has expired or was not sent from this site; reload it.",
  });
}
