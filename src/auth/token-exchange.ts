import { completeMfaLogin, type LoginResult, passwordLogin, refreshTokens } from "./auth-service.ts";
import { redeemAuthorizationCode } from "./authorization-code.ts";
import { authenticateClient, requireGrant } from "./clients.ts";
import { DEVICE_GRANT_TYPE, type DeviceDeps, pollDevice } from "./device-grant.ts";

/** Our extension grant (RFC 6749 §4.5: an absolute URI) that completes a login answered `mfa_required`. */
export const MFA_GRANT_TYPE = "urn:techcorp:params:oauth:grant-type:mfa-otp";

/** RFC 6749 §3.2.1: a public client names itself; absent, our first-party client for its grants. */
interface ClientParameters {
  client_id?: string | undefined;
}

/**
 * A token request, parameters by their OAuth names: the authorization code grant (RFC 6749
 * §4.1.3 with the RFC 7636 `code_verifier`), the password grant (§4.3.2), the refresh grant (§6),
 * or our MFA grant (`mfa_token` from the password step and exactly one of a TOTP `otp` and a
 * `recovery_code`).
 */
export type TokenRequest = ClientParameters &
  (
    | { grant_type: "authorization_code"; code: string; redirect_uri: string; code_verifier: string }
    | { grant_type: "password"; username: string; password: string; scope?: string | undefined }
    | { grant_type: typeof DEVICE_GRANT_TYPE; device_code: string }
    | { grant_type: "refresh_token"; refresh_token: string }
    | {
        grant_type: typeof MFA_GRANT_TYPE;
        mfa_token: string;
        otp?: string | undefined;
        recovery_code?: string | undefined;
      }
  );

/**
 * The token endpoint's work (RFC 6749 §3.2): the client identified (a public client by its
 * `client_id`; a confidential one by `client_secret_basic` in `authorization`) and allowed the
 * grant, then the grant. A request naming no client is our first-party client's, except for the
 * authorization code grant, which must name its client (RFC 6749 §4.1.3). Tokens, or for a
 * password login on an account with MFA on, the `mfa_token` to complete it with (`kind: "mfa"`).
 *
 * @throws `invalid_client` (401) for an unknown client or failed client authentication, before
 *   any other work; `unauthorized_client` (400) for a grant the client is not registered for;
 *   otherwise what the grant's function throws (`invalid_grant`, `slow_down`, 503).
 */
export async function exchangeToken(
  deps: DeviceDeps,
  request: TokenRequest,
  authorization?: string,
): Promise<LoginResult> {
  const namesItself = request.grant_type === "authorization_code" || request.grant_type === DEVICE_GRANT_TYPE;
  const fallback = namesItself ? undefined : deps.config.auth.tokens.clientId;
  const client = await authenticateClient(deps.config.auth, { clientId: request.client_id, authorization }, fallback);
  requireGrant(client, request.grant_type);
  switch (request.grant_type) {
    case "authorization_code": {
      const input = {
        code: request.code,
        redirectUri: request.redirect_uri,
        codeVerifier: request.code_verifier,
        origin: { ip: deps.client.ip, userAgent: deps.client.userAgent, requestId: deps.client.requestId ?? null },
      };
      return { kind: "tokens", tokens: await redeemAuthorizationCode(deps, client, input) };
    }
    case DEVICE_GRANT_TYPE:
      return { kind: "tokens", tokens: await pollDevice(deps, client, request.device_code) };
    case "refresh_token": {
      const input = { refreshToken: request.refresh_token, clientId: client.id };
      return { kind: "tokens", tokens: await refreshTokens(deps, input) };
    }
    case MFA_GRANT_TYPE: {
      const input = { mfaToken: request.mfa_token, otp: request.otp, recoveryCode: request.recovery_code };
      return { kind: "tokens", tokens: await completeMfaLogin(deps, input) };
    }
    case "password":
      return passwordLogin(deps, { username: request.username, password: request.password });
  }
}
