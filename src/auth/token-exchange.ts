import { oauthError } from "../pkg/errors/api-error.ts";
import { type AuthDeps, completeMfaLogin, type LoginResult, passwordLogin, refreshTokens } from "./auth-service.ts";

/** Our extension grant (RFC 6749 §4.5: an absolute URI) that completes a login answered `mfa_required`. */
export const MFA_GRANT_TYPE = "urn:techcorp:params:oauth:grant-type:mfa-otp";

/** RFC 6749 §3.2.1: a public client may name itself; absent, or our registered client's id. */
interface ClientParameters {
  client_id?: string | undefined;
}

/**
 * A token request, parameters by their OAuth names: the password grant (RFC 6749 §4.3.2), the
 * refresh grant (§6), or our MFA grant (`mfa_token` from the password step and exactly one of a
 * TOTP `otp` and a `recovery_code`).
 */
export type TokenRequest = ClientParameters &
  (
    | { grant_type: "password"; username: string; password: string; scope?: string | undefined }
    | { grant_type: "refresh_token"; refresh_token: string }
    | {
        grant_type: typeof MFA_GRANT_TYPE;
        mfa_token: string;
        otp?: string | undefined;
        recovery_code?: string | undefined;
      }
  );

/**
 * The token endpoint's work (RFC 6749 §3.2): the client checked, then the request's grant —
 * `passwordLogin`, `refreshTokens` or `completeMfaLogin`. Tokens, or for a password login on an
 * account with MFA on, the `mfa_token` to complete it with (`kind: "mfa"`).
 *
 * @throws `invalid_client` (401) for a `client_id` other than ours (RFC 6749 §5.2), before any
 *   other work; otherwise what the grant's function throws (`invalid_grant`, `slow_down`, 503).
 */
export async function exchangeToken(deps: AuthDeps, request: TokenRequest): Promise<LoginResult> {
  if (request.client_id !== undefined && request.client_id !== deps.config.auth.tokens.clientId) {
    throw oauthError(
      "unauthorized",
      "invalid_client",
      "Unknown client_id: this endpoint serves only its registered client.",
    );
  }
  switch (request.grant_type) {
    case "refresh_token":
      return { kind: "tokens", tokens: await refreshTokens(deps, { refreshToken: request.refresh_token }) };
    case MFA_GRANT_TYPE: {
      const input = { mfaToken: request.mfa_token, otp: request.otp, recoveryCode: request.recovery_code };
      return { kind: "tokens", tokens: await completeMfaLogin(deps, input) };
    }
    case "password":
      return passwordLogin(deps, { username: request.username, password: request.password });
  }
}
