import type { components } from "./generated/openapi.ts";
import { ProblemError } from "./problem.ts";

/** What the token endpoints answer (`POST /auth/token`, `POST /auth/refresh`). */
export type TokenResponse = components["schemas"]["TokenResponse"];

/**
 * A signed-in session's tokens, as the SDK keeps and hands them to `onTokens`.
 * - `accessToken`: an ES256 JWT, valid 15 minutes (the server's `ACCESS_TOKEN_TTL_SECONDS`).
 * - `refreshToken`: opaque; rotates on every refresh (the old one then ends the session if reused
 *   after 30 s), so persist the newest one.
 * - `expiresAt`: when the access token expires, in epoch milliseconds by the client's clock
 *   (computed from `expires_in` on receipt). Optional: when absent, the JWT's `exp` claim is read.
 */
export interface TokenSet {
  accessToken: string;
  refreshToken: string;
  expiresAt?: number;
  /** The granted scope, space-separated, as the server answered it. */
  scope?: string;
  /** The OpenID Connect ID token, when `openid` was granted. */
  idToken?: string;
}

/** The token set of a token endpoint's answer received at `now` (epoch ms). */
export function tokenSetFrom(response: TokenResponse, now = Date.now()): TokenSet {
  return {
    accessToken: response.access_token,
    refreshToken: response.refresh_token,
    expiresAt: now + response.expires_in * 1000,
    scope: response.scope,
    ...(response.id_token ? { idToken: response.id_token } : {}),
  };
}

/**
 * The `exp` claim of a JWT in epoch milliseconds, read without verifying the signature (the server
 * verifies; the client only schedules its refresh); undefined when the token is not a JWT with a
 * numeric `exp`.
 */
export function jwtExpiry(token: string): number | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const json = new TextDecoder().decode(Uint8Array.from(atob(base64), (char) => char.charCodeAt(0)));
    const claims: unknown = JSON.parse(json);
    const exp = typeof claims === "object" && claims !== null ? (claims as { exp?: unknown }).exp : undefined;
    return typeof exp === "number" ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** Exchanges a refresh token for new tokens (`POST /auth/refresh`); throws `ProblemError` when refused. */
export type Refresher = (refreshToken: string) => Promise<TokenSet>;

export interface TokenSessionOptions {
  refresh: Refresher;
  /** Called with every new token set, after it is in use; a throw or rejection here is not caught. */
  onTokens?: ((tokens: TokenSet) => void | Promise<void>) | undefined;
  /** Refresh this many seconds before the access token expires (default 30). */
  refreshBeforeExpirySeconds?: number | undefined;
}

/**
 * A signed-in session's tokens, refreshed when needed, once for all concurrent callers
 * (single-flight): every caller that finds the access token expiring, or rejected by the server,
 * while a refresh is running waits for that refresh instead of starting another one; a refresh
 * token is used once, as rotation requires.
 *
 * A refresh the server refuses for good (4xx other than 429: `invalid_grant` when the session
 * ended, the refresh token was rotated away or reused) ends this object's session: every later
 * call rejects with that same `ProblemError` without asking the server again (sign in again). A 429,
 * a 503 or a network failure is thrown to the callers of that refresh only; the next call tries again.
 */
export class TokenSession {
  #tokens: TokenSet;
  #refreshing: Promise<TokenSet> | undefined;
  #ended: unknown;
  readonly #refresh: Refresher;
  readonly #onTokens: TokenSessionOptions["onTokens"];
  readonly #marginMs: number;

  constructor(tokens: TokenSet, options: TokenSessionOptions) {
    this.#tokens = tokens;
    this.#refresh = options.refresh;
    this.#onTokens = options.onTokens;
    this.#marginMs = (options.refreshBeforeExpirySeconds ?? 30) * 1000;
  }

  /** The tokens now in use. */
  get tokens(): TokenSet {
    return this.#tokens;
  }

  /** An access token to send now: the current one, or a refreshed one when it expires within the margin. */
  async accessToken(now = Date.now()): Promise<string> {
    if (this.#ended !== undefined) throw this.#ended;
    if (this.#refreshing) return (await this.#refreshing).accessToken;
    const expiresAt = this.#tokens.expiresAt ?? jwtExpiry(this.#tokens.accessToken);
    if (expiresAt !== undefined && expiresAt - now <= this.#marginMs) return (await this.#refreshOnce()).accessToken;
    return this.#tokens.accessToken;
  }

  /**
   * The access token to retry with after the server refused `rejected` (401 `invalid_token`): a new
   * one from a refresh, or the one another caller's refresh already brought (no second refresh).
   */
  async replacing(rejected: string): Promise<string> {
    if (this.#ended !== undefined) throw this.#ended;
    if (this.#refreshing) return (await this.#refreshing).accessToken;
    if (this.#tokens.accessToken !== rejected) return this.#tokens.accessToken;
    return (await this.#refreshOnce()).accessToken;
  }

  #refreshOnce(): Promise<TokenSet> {
    this.#refreshing ??= this.#rotate().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #rotate(): Promise<TokenSet> {
    let tokens: TokenSet;
    try {
      tokens = await this.#refresh(this.#tokens.refreshToken);
    } catch (error) {
      const final = error instanceof ProblemError && error.status >= 400 && error.status < 500 && error.status !== 429;
      if (final) this.#ended = error;
      throw error;
    }
    this.#tokens = tokens;
    await this.#onTokens?.(tokens);
    return tokens;
  }
}
