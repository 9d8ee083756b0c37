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
 * The refresh of a first-party session: `POST /auth/refresh` `{refresh_token}`, answering new tokens
 * (the refresh token rotated).
 * @throws ProblemError `invalid_grant` (400: the session ended, or the token was rotated away), 429
 *   with `retryAfterSeconds`, 503.
 */
export function refreshWith(api: ApiClient): Refresher {
  return async (refreshToken) => {
    const { data } = await api.POST("/auth/refresh", { body: { refresh_token: refreshToken } });
    return tokenSetFrom(data);
  };
}
