import { createRouter } from "../../app/create-app.ts";
import { exchangeToken, MFA_GRANT_TYPE } from "../../auth/token-exchange.ts";
import { FORM_BODY, formAsJson } from "../../gateway/form-as-json.ts";
import { OAUTH_ERROR_HEADERS } from "../../gateway/oauth-error-responses.ts";
import { jsonBody, jsonResponse, publicRoute } from "../openapi.ts";
import { authDeps } from "./deps.ts";
import { mfaRequired, NO_STORE, oauthValidationHook } from "./oauth.ts";
import { OAuthProblemSchema, TokenRequestSchema, TokenResponseSchema } from "./schemas.ts";

/** An error of the token endpoint as documented: an OAuth problem sent as `application/json`. */
const oauthJson = (
  description: string,
  headers?: Record<string, { schema: { type: "integer" }; description: string }>,
) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { [OAUTH_ERROR_HEADERS["content-type"]]: { schema: OAuthProblemSchema } },
});

const RETRY_AFTER = { "Retry-After": { schema: { type: "integer" as const }, description: "Seconds to wait." } };

/**
 * Errors of the token endpoint, every one with `error` and `error_description` (RFC 6749 §5.2)
 * beside the problem members, sent as `application/json` with `Cache-Control: no-store`.
 */
const tokenErrors = {
  400: oauthJson(
    "`invalid_request` (a missing, malformed or repeated parameter), `invalid_grant` or `unsupported_grant_type`.",
  ),
  401: oauthJson(
    "`invalid_client`: an unknown `client_id`, or a confidential client whose authentication (`client_secret_basic`) failed.",
  ),
  403: oauthJson("`mfa_required`: complete the login with a code and the returned `mfa_token`."),
  413: oauthJson("`invalid_request`: the body is too large."),
  415: oauthJson("`invalid_request`: the body is neither form-encoded nor JSON."),
  429: oauthJson(
    "`slow_down`: too many failed logins for this account or address, or too many requests; see Retry-After.",
    RETRY_AFTER,
  ),
  503: oauthJson("`temporarily_unavailable`: a dependency is unreachable; nothing was changed.", RETRY_AFTER),
};

// The OAuth error format of every answer, the gateway's included, is `oauthErrorResponses`,
// mounted on this path by the app shell (src/app/create-app.ts).
// Credentials are guessed here, but sessions refresh and devices poll here too: the token policy
// (guesses are throttled per account and address), failing closed when the limiter is down.
const route = publicRoute("token", {
  method: "post",
  path: "/auth/token",
  tags: ["Auth"],
  summary: "Get tokens (OAuth2 token endpoint)",
  description: `Grants: \`authorization_code\` (RFC 6749 §4.1.3, with the RFC 7636 \`code_verifier\`; the code is single-use, and a replayed one revokes the tokens it issued), \`password\` (RFC 6749 §4.3, our first-party client only; \`username\` is the email or username), \`refresh_token\` (rotates the refresh token), and \`${MFA_GRANT_TYPE}\` (completes a login that answered \`mfa_required\`). Form-encoded (a parameter must not repeat, and one without a value counts as omitted: RFC 6749 §3.2) or JSON. Clients are those of the registry (\`OAUTH_CLIENTS\`): a public one sends its \`client_id\` (without one, the request is our first-party client's), a confidential one authenticates with \`client_secret_basic\`; each may use only the grants it is registered for (\`unauthorized_client\`), and a refresh token works only for the client it was issued to. An unknown user and a wrong password get the same answer. Each attempt is counted before the password is checked, per account (whichever identifier named it) and per client address (an IPv6 one by its /64): five free, then waits of 1 s, 2 s, 4 s … up to 15 min (429 \`slow_down\`), so concurrent guesses get no more tries. Every error, whichever layer raises it, is sent as \`application/json\` (not \`application/problem+json\`, which OAuth clients refuse) with \`Cache-Control: no-store\`: the problem members, request id included, plus \`error\` and \`error_description\` (RFC 6749 §5.2).`,
  middleware: [formAsJson()] as const,
  [FORM_BODY]: true,
  request: { body: jsonBody(TokenRequestSchema) },
  responses: {
    200: jsonResponse("Tokens.", TokenResponseSchema),
    ...tokenErrors,
  },
});

export const issueTokens = createRouter().openapi(
  route,
  async (c) => {
    const result = await exchangeToken(authDeps(c), c.req.valid("json"), c.req.header("authorization"));
    if (result.kind === "mfa") throw mfaRequired(result.mfaToken);
    return c.json(result.tokens, 200, NO_STORE);
  },
  oauthValidationHook,
);
