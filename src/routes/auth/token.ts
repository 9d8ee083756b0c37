import { createRoute } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { exchangeToken, MFA_GRANT_TYPE } from "../../auth/token-exchange.ts";
import { FORM_BODY, formAsJson } from "../../gateway/form-as-json.ts";
import { OAUTH_ERROR_HEADERS } from "../../gateway/oauth-error-responses.ts";
import { jsonBody, jsonResponse } from "../openapi.ts";
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
  401: oauthJson("`invalid_client`: a `client_id` other than our registered client."),
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
const route = createRoute({
  method: "post",
  path: "/auth/token",
  tags: ["Auth"],
  summary: "Get tokens (OAuth2 token endpoint)",
  description: `Grants: \`password\` (RFC 6749 §4.3; \`username\` is the email or username), \`refresh_token\` (rotates the refresh token), and \`${MFA_GRANT_TYPE}\` (completes a login that answered \`mfa_required\`). Form-encoded (a parameter must not repeat, and one without a value counts as omitted: RFC 6749 §3.2) or JSON. Our apps are one public client: \`client_id\` may be sent, and must then be ours. An unknown user and a wrong password get the same answer. Each attempt is counted before the password is checked, per account (whichever identifier named it) and per client address (an IPv6 one by its /64): five free, then waits of 1 s, 2 s, 4 s … up to 15 min (429 \`slow_down\`), so concurrent guesses get no more tries. Every error, whichever layer raises it, is sent as \`application/json\` (not \`application/problem+json\`, which OAuth clients refuse) with \`Cache-Control: no-store\`: the problem members, request id included, plus \`error\` and \`error_description\` (RFC 6749 §5.2).`,
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
    const result = await exchangeToken(authDeps(c), c.req.valid("json"));
    if (result.kind === "mfa") throw mfaRequired(result.mfaToken);
    return c.json(result.tokens, 200, NO_STORE);
  },
  oauthValidationHook,
);
