import type { ApiClient } from "./api-client.ts";
import { ProblemError } from "./problem.ts";
import { type Refresher, type TokenSet, tokenSetFrom } from "./tokens.ts";

/** The web app's client id: the one client the password and MFA grants are registered for. */
export const FIRST_PARTY_CLIENT_ID = "techcorp-first-party";

/** The grant that finishes a password sign-in of an account with MFA on. */
export const MFA_OTP_GRANT_TYPE = "urn:techcorp:params:oauth:grant-type:mfa-otp";

export interface PasswordSignIn {
  /** The account's email or username. */
  username: string;
  password: string;
  /** Space-separated scopes to ask for; absent, the first-party session holds everything the user may. */
  scope?: string;
}

/**
 * The outcome of a password sign-in:
 * - `signed-in`: the session's tokens;
 * - `mfa-required`: the password was right and the account has MFA on; finish with
 *   `completeMfaSignIn` and this `mfaToken` (valid a few minutes, single use) plus a TOTP code or a
 *   recovery code.
 */
export type SignInResult = { kind: "signed-in"; tokens: TokenSet } | { kind: "mfa-required"; mfaToken: string };

/** The second factor of an MFA sign-in: a 6-digit TOTP code, or one of the account's recovery codes. */
export type SecondFactor = { mfaToken: string; otp: string } | { mfaToken: string; recoveryCode: string };

/**
 * `POST /auth/token` with the password grant for the first-party client.
 * @throws ProblemError `invalid_grant` (400: unknown user or wrong password, the same answer for
 *   both), `validation_failed` (400), 429 `slow_down` after repeated failures (`retryAfterSeconds`),
 *   503 when a dependency is down. The token endpoint sends these as `application/json` problems
 *   with the OAuth `error` code in `problem.error`.
 */
export async function passwordGrant(api: ApiClient, input: PasswordSignIn): Promise<SignInResult> {
  try {
    const { data } = await api.POST("/auth/token", {
      body: {
        grant_type: "password",
        client_id: FIRST_PARTY_CLIENT_ID,
        username: input.username,
        password: input.password,
        ...(input.scope === undefined ? {} : { scope: input.scope }),
      },
    });
    return { kind: "signed-in", tokens: tokenSetFrom(data) };
  } catch (error) {
    const mfaToken =
      error instanceof ProblemError && error.code === "mfa_required" ? error.problem.mfa_token : undefined;
    if (typeof mfaToken === "string") return { kind: "mfa-required", mfaToken };
    throw error;
  }
}

/**
 * `POST /auth/token` with the `urn:techcorp:params:oauth:grant-type:mfa-otp` grant: the second step
 * of a sign-in that answered `mfa-required`.
 * @throws ProblemError `invalid_grant` (400: wrong, replayed or expired code or `mfaToken`), 429
 *   `slow_down` after repeated failures.
 */
export async function mfaGrant(api: ApiClient, factor: SecondFactor): Promise<TokenSet> {
  const code = "otp" in factor ? { otp: factor.otp } : { recovery_code: factor.recoveryCode };
  const { data } = await api.POST("/auth/token", {
    body: { grant_type: MFA_OTP_GRANT_TYPE, client_id: FIRST_PARTY_CLIENT_ID, mfa_token: factor.mfaToken, ...code },
  });
  return tokenSetFrom(data);
}

/**
 * The refresh of a session: `POST /auth/refresh` `{refresh_token}` for the first-party client's,
 * else the token endpoint's `refresh_token` grant with `client_id` (a refresh token works only for
 * the client it was issued to, RFC 6749 §6); both answer new tokens, the refresh token rotated.
 * @throws ProblemError `invalid_grant` (400: the session ended, or the token was rotated away), 429
 *   with `retryAfterSeconds`, 503.
 */
export function refreshWith(api: ApiClient, clientId = FIRST_PARTY_CLIENT_ID): Refresher {
  return async (refreshToken) => {
    if (clientId === FIRST_PARTY_CLIENT_ID) {
      const { data } = await api.POST("/auth/refresh", { body: { refresh_token: refreshToken } });
      return tokenSetFrom(data);
    }
    const { data } = await api.POST("/auth/token", {
      body: { grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId },
    });
    return tokenSetFrom(data);
  };
}

/** The grant a device polls the token endpoint with (RFC 8628 §3.4). */
export const DEVICE_CODE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code";
/** RFC 8628 §3.5: on `slow_down` the polling interval grows by 5 seconds, for good. */
const SLOW_DOWN_STEP_SECONDS = 5;

/** What a person must do to approve a device sign-in: open a page and check (or type) the code. */
export interface DeviceCodePrompt {
  /** The code to check, e.g. `BDWP-HQPK`. */
  userCode: string;
  /** Where to enter it (`/auth/device`). */
  verificationUri: string;
  /** The same page with the code filled in. */
  verificationUriComplete: string;
  /** Seconds until the code expires (600). */
  expiresIn: number;
}

export interface DeviceSignIn {
  /** A client registered for the device grant (the CLI's is `techcorp-cli`). */
  clientId: string;
  /** Space-separated scopes; absent, the client's default scopes. */
  scope?: string;
  /** Called once with what to show the person, before polling starts. */
  onPrompt(prompt: DeviceCodePrompt): void;
  /** Stops polling: the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * The device authorization grant (RFC 8628): asks for a user code (`POST /auth/device_authorization`),
 * hands it to `onPrompt`, then polls the token endpoint at the interval the server gave (5 s more
 * after each `slow_down`) until the person approves.
 * @returns the session's tokens
 * @throws ProblemError with `problem.error` `access_denied` (the person refused) or `expired_token`
 *   (not approved in time), or any other error of the endpoints; the signal's reason when aborted.
 */
export async function deviceGrant(api: ApiClient, request: DeviceSignIn): Promise<TokenSet> {
  const { data: grant } = await api.POST("/auth/device_authorization", {
    body: { client_id: request.clientId, ...(request.scope === undefined ? {} : { scope: request.scope }) },
  });
  request.onPrompt({
    userCode: grant.user_code,
    verificationUri: grant.verification_uri,
    verificationUriComplete: grant.verification_uri_complete,
    expiresIn: grant.expires_in,
  });
  let intervalSeconds = grant.interval;
  for (;;) {
    await sleep(intervalSeconds * 1000, request.signal);
    try {
      const { data } = await api.POST("/auth/token", {
        body: { grant_type: DEVICE_CODE_GRANT_TYPE, device_code: grant.device_code, client_id: request.clientId },
      });
      return tokenSetFrom(data);
    } catch (error) {
      const code = error instanceof ProblemError ? error.problem.error : undefined;
      if (code === "authorization_pending") continue;
      if (code === "slow_down") {
        intervalSeconds += SLOW_DOWN_STEP_SECONDS;
        continue;
      }
      throw error;
    }
  }
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", abort, { once: true });
  });
}
