import { batchAsActor, SYSTEM } from "../db/actor.ts";
import { type RequestOrigin, recordSecurityEvent } from "../db/queries/audit.ts";
import type { PublicUser } from "../db/queries/users.ts";
import type { Redemption, Sessions } from "../durable-objects/sessions.ts";
import type { AuthConfig } from "../pkg/config/config.ts";
import { ApiError, invalidField, oauthError } from "../pkg/errors/api-error.ts";
import {
  type AuthDeps,
  type Authentication,
  sessionLifetimes,
  signInPageLogin,
  staffLifetimes,
  startLogin,
  type TokenResponse,
  tokenResponse,
} from "./auth-service.ts";
import { findClient, type OAuthClient, redirectUriAllowed } from "./clients.ts";
import { grantScope, parseScope } from "./scopes.ts";
import { type SingleSignOn, singleSignOn, ssoStart } from "./single-sign-on.ts";
import { parseUserToken, userToken, withUserSessions } from "./user-sessions.ts";

/** How long an authorization code lives (ms): RFC 6749 §4.1.2 recommends at most 10 minutes; 60 s is plenty. */
export const CODE_TTL_MS = 60_000;

/**
 * The parameters of an authorization request that are read (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID
 * Connect Core §3.1.2.1); any other is ignored (RFC 6749 §3.1).
 */
export const AUTHORIZATION_PARAMETERS = [
  "response_type",
  "client_id",
  "redirect_uri",
  "scope",
  "state",
  "code_challenge",
  "code_challenge_method",
  "nonce",
  "prompt",
  "max_age",
  "response_mode",
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
  /**
   * OpenID Connect Core §3.1.2.1 `prompt`: `none` (no page: a single sign-on session or
   * `login_required`), `login` (the sign-in form, whatever single sign-on session there is).
   */
  prompt: "none" | "login" | undefined;
  /** OpenID Connect Core §3.1.2.1 `max_age` (s): a single sign-on session older than this is not used. */
  maxAge: number | undefined;
}

/**
 * Whether the request asks for a sign-in whatever single sign-on session the browser has:
 * `prompt=login`, or `max_age=0` (OpenID Connect Core §3.1.2.1: equivalent to `prompt=login`).
 */
export const demandsSignIn = (request: AuthorizationRequest) => request.prompt === "login" || request.maxAge === 0;

/** An error to send back to the client at its redirect URI (RFC 6749 §4.1.2.1). */
export interface RedirectedError {
  redirectUri: string;
  state: string | undefined;
  error:
    | "invalid_request"
    | "unsupported_response_type"
    | "invalid_scope"
    | "unauthorized_client"
    | "access_denied"
    // OpenID Connect Core §3.1.2.6.
    | "login_required"
    | "consent_required"
    | "account_selection_required";
  description: string;
}

export type AuthorizationCheck = { ok: true; request: AuthorizationRequest } | { ok: false; redirect: RedirectedError };

/** RFC 7636 §4.2: the S256 challenge is base64url without padding of a 32-byte digest: 43 characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/**
 * OpenID Connect Core §3.1.2.1 `prompt` values: those served, and the error that answers each of
 * the others (§3.1.2.6). There is no consent page (the clients are first-party) and one account
 * signs in at a time.
 */
const PROMPTS: Record<string, "served" | RedirectedError["error"]> = {
  none: "served",
  login: "served",
  consent: "consent_required",
  select_account: "account_selection_required",
};

/** `prompt` values served (`prompt_values_supported` in discovery). */
export const PROMPT_VALUES = Object.keys(PROMPTS).filter((value) => PROMPTS[value] === "served");

type Refuse = (error: RedirectedError["error"], description: string) => AuthorizationCheck;

/**
 * The OpenID Connect parameters of a request that is valid so far (OpenID Connect Core
 * §3.1.2.1): `response_mode` (`query` alone), `prompt`, `max_age`; the refusal, if any.
 */
function checkOpenIdParameters(
  parameters: AuthorizationParameters,
  refuse: Refuse,
): Pick<AuthorizationRequest, "prompt" | "maxAge"> | AuthorizationCheck {
  if (parameters.response_mode !== undefined && parameters.response_mode !== "query") {
    return refuse("invalid_request", "Only response_mode=query is supported.");
  }
  const prompts = new Set((parameters.prompt ?? "").split(" ").filter(Boolean));
  for (const value of prompts) {
    const outcome = PROMPTS[value];
    if (outcome === undefined) return refuse("invalid_request", `Unknown prompt value: ${value}.`);
    if (outcome !== "served") return refuse(outcome, `prompt=${value} is not supported.`);
  }
  if (prompts.has("none") && prompts.size > 1) {
    return refuse("invalid_request", "prompt=none cannot be combined with another value.");
  }
  const maxAge = parameters.max_age;
  if (maxAge !== undefined && !/^\d{1,9}$/.test(maxAge)) {
    return refuse("invalid_request", "max_age must be a whole number of seconds, 0 or more.");
  }
  return {
    prompt: prompts.has("none") ? "none" : prompts.has("login") ? "login" : undefined,
    maxAge: maxAge === undefined ? undefined : Number(maxAge),
  };
}

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
  const refuse: Refuse = (error, description) => ({
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
  const openId = checkOpenIdParameters(parameters, refuse);
  if ("ok" in openId) return openId;
  return {
    ok: true,
    request: {
      client,
      redirectUri,
      scope,
      state,
      nonce: parameters.nonce,
      codeChallenge: parameters.code_challenge,
      ...openId,
    },
  };
}

/**
 * The authorization response's address (RFC 6749 §4.1.2, §4.1.2.1; `response_mode=query`): the
 * redirect URI with `code` or `error`/`error_description`, `state` as received, and `iss` (RFC
 * 9207, against mix-up attacks).
 */
export function authorizationResponse(
  issuer: string,
  outcome: { redirectUri: string; code: string; state: string | undefined } | RedirectedError,
): string {
  const url = new URL(outcome.redirectUri);
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

/** An error answering a valid request at its redirect URI (`access_denied`, `login_required`). */
export function refusal(
  request: AuthorizationRequest,
  error: RedirectedError["error"],
  description: string,
): RedirectedError {
  return { redirectUri: request.redirectUri, state: request.state, error, description };
}

/**
 * Issues an authorization code to a user who has just signed in on the authorization endpoint,
 * and starts the browser's single sign-on session: the login batch (`startLogin`: the login and
 * its `user.login_succeeded` event recorded, the user's grants read, one HTTP batch), then one
 * call to the user's SESSIONS object that stores the code (bound to the client, redirect URI, PKCE
 * challenge, granted scope, nonce, the sign-in's time and `amr`), starts the single sign-on
 * session (`ssoStart`: a staff account's lifetimes for a staff account; ending the browser's
 * previous one) and spends an MFA login's `mfa_token`.
 *
 * @param previous the browser's single sign-on cookie, if it sent one
 * @returns the code, `<userId>.<codeId>.<secret>`, and the single sign-on session's cookie value
 * @throws what `startLogin` throws (`invalid_grant` when the `mfa_token` was spent)
 */
export async function issueAuthorizationCode(
  deps: AuthDeps,
  user: PublicUser,
  request: AuthorizationRequest,
  authentication: Authentication,
  previous?: string,
): Promise<{ code: string; sso: SingleSignOn }> {
  const details = signInPageLogin(authentication, "authorization_code", request.client.id);
  const { started } = await startLogin(
    deps,
    user.id,
    { details, changes: authentication.changes },
    (stub, principal) => {
      const grant = {
        clientId: request.client.id,
        redirectUri: request.redirectUri,
        codeChallenge: request.codeChallenge,
        scope: grantScope(request.scope, principal),
        nonce: request.nonce ?? null,
        authTime: authentication.authTime,
        amr: authentication.amr,
      };
      const sso = ssoStart(deps, principal, user.id, previous);
      return stub.issueCode(grant, principal, CODE_TTL_MS, { once: authentication.once, sso });
    },
  );
  return { code: userToken(user.id, started.id, started.secret), sso: singleSignOn(user.id, started.sso) };
}

/**
 * Issues an authorization code under the browser's single sign-on session (its cookie's value),
 * without a sign-in (OpenID Connect Core §3.1.2.3): one call to the user's SESSIONS object, no
 * database round trip. The code carries the original sign-in's `auth_time` and `amr`; its session
 * is tied to the single sign-on session, as a signed-in code's is.
 *
 * @returns the code; undefined when the cookie names no live single sign-on session of an active
 *   user, or one older than `request.maxAge` (the user must sign in)
 * @throws DependencyError when the SESSIONS object is unreachable
 */
export async function issueCodeBySso(
  deps: Pick<AuthDeps, "sessions">,
  ssoToken: string,
  request: AuthorizationRequest,
): Promise<string | undefined> {
  const sso = parseUserToken(ssoToken);
  if (!sso) return undefined;
  const issued = await withUserSessions(deps.sessions, sso.userId, (stub) =>
    stub.issueCodeBySso(
      sso.id,
      sso.secret,
      {
        clientId: request.client.id,
        redirectUri: request.redirectUri,
        codeChallenge: request.codeChallenge,
        scope: request.scope,
        nonce: request.nonce ?? null,
        maxAgeSeconds: request.maxAge ?? null,
      },
      CODE_TTL_MS,
    ),
  );
  return issued ? userToken(sso.userId, issued.id, issued.secret) : undefined;
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
  const parsed = parseUserToken(input.code);
  if (!parsed) throw oauthError("invalid_grant", "invalid_grant", "The authorization code is invalid.");
  const redemption: Redemption = await withUserSessions(deps.sessions, parsed.userId, async (stub) =>
    // RPC types a union's members apart; the object answers a Redemption.
    (stub as unknown as Pick<Sessions, "redeemCode">).redeemCode(
      parsed.id,
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
