import type { ApiClient } from "./api-client.ts";
import { FIRST_PARTY_CLIENT_ID } from "./auth.ts";
import { type TokenSet, tokenSetFrom } from "./tokens.ts";

// The authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636), as a browser app or a native
// app runs it: build the authorization request, send the person's browser to it (the server's
// sign-in page: password, second factor, or a third-party provider), then redeem the code that
// comes back at the redirect URI.

export interface AuthorizationRequestOptions {
  /** A client registered for the authorization code grant; default `techcorp-first-party` (the web app). */
  clientId?: string;
  /** One of the client's registered redirect URIs, exactly (the web app's: `<origin>/sign-in/callback`). */
  redirectUri: string;
  /** Space-separated scopes; absent, the client's default scopes. */
  scope?: string;
  /** OpenID Connect `prompt`: `login` (always the sign-in form) or `none` (no page at all). */
  prompt?: "login" | "none";
}

/**
 * A started authorization request: where to send the browser, and what to keep (for example in
 * sessionStorage) until the callback, to give `signInWithAuthorizationCode`.
 */
export interface PendingAuthorization {
  /** The authorization endpoint's address with every parameter (`/auth/authorize?…`). */
  url: string;
  clientId: string;
  redirectUri: string;
  /** Compared with the callback's `state` (RFC 6749 §10.12: CSRF). */
  state: string;
  /** The PKCE secret whose S256 challenge the request carries (RFC 7636 §4.1: 43 characters here). */
  codeVerifier: string;
}

/**
 * The authorization server sent the person back with an error (RFC 6749 §4.1.2.1), e.g.
 * `access_denied` when they pressed Cancel; or the callback is not the answer to this request.
 */
export class AuthorizationError extends Error {
  /** The OAuth `error` code (`access_denied`, `login_required` …), or `invalid_state` for a foreign callback. */
  readonly error: string;
  constructor(error: string, description: string | undefined) {
    super(description ? `${error}: ${description}` : error);
    this.name = "AuthorizationError";
    this.error = error;
  }
}

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");

const randomString = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

/**
 * Builds an authorization request with PKCE (S256) and a fresh `state` (Web Crypto: a browser,
 * Node 20+ or a Worker). Nothing is sent.
 */
export async function authorizationRequest(
  baseUrl: string,
  options: AuthorizationRequestOptions,
): Promise<PendingAuthorization> {
  const clientId = options.clientId ?? FIRST_PARTY_CLIENT_ID;
  const state = randomString();
  const codeVerifier = randomString();
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(codeVerifier));
  const url = new URL(`${baseUrl}/auth/authorize`);
  const parameters: Record<string, string | undefined> = {
    response_type: "code",
    client_id: clientId,
    redirect_uri: options.redirectUri,
    scope: options.scope,
    state,
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: "S256",
    prompt: options.prompt,
  };
  for (const [name, value] of Object.entries(parameters)) if (value !== undefined) url.searchParams.set(name, value);
  return { url: url.href, clientId, redirectUri: options.redirectUri, state, codeVerifier };
}

/**
 * Redeems the code the authorization server sent to the redirect URI (`POST /auth/token`,
 * `authorization_code` with the PKCE verifier), after checking the callback's `state`.
 *
 * @param callbackUrl the address the browser arrived at (`location.href`), with `code` or `error`
 * @throws AuthorizationError for an error answer (`access_denied` …) or a `state` that is not this
 *   request's (`invalid_state`); ProblemError `invalid_grant` (400) for a code that is expired
 *   (60 s), used, or not this request's
 */
export async function authorizationCodeGrant(
  api: ApiClient,
  pending: Omit<PendingAuthorization, "url">,
  callbackUrl: string | URL,
): Promise<TokenSet> {
  const answer = new URL(callbackUrl).searchParams;
  if (answer.get("state") !== pending.state) {
    throw new AuthorizationError("invalid_state", "This sign-in was not started here, or was started again since.");
  }
  const error = answer.get("error");
  if (error) throw new AuthorizationError(error, answer.get("error_description") ?? undefined);
  const code = answer.get("code");
  if (!code) throw new AuthorizationError("invalid_request", "The answer carries no code.");
  const { data } = await api.POST("/auth/token", {
    body: {
      grant_type: "authorization_code",
      client_id: pending.clientId,
      code,
      redirect_uri: pending.redirectUri,
      code_verifier: pending.codeVerifier,
    },
  });
  return tokenSetFrom(data);
}
