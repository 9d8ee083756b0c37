import { OAUTH_ERROR_HEADERS } from "../../gateway/oauth-error-responses.ts";
import { OAuthProblemSchema } from "./schemas.ts";

const DESCRIPTIONS = {
  400: "`invalid_request` (a missing, malformed or repeated parameter).",
  401: "`invalid_client`: an unknown client, or failed client authentication (`client_secret_basic`).",
  413: "`invalid_request`: the body is too large.",
  415: "`invalid_request`: the body is neither form-encoded nor JSON.",
  429: "`slow_down`: too many requests; see Retry-After.",
  503: "`temporarily_unavailable`: a dependency is unreachable; nothing was changed.",
} as const;

/**
 * The documented errors of an OAuth endpoint other than the token endpoint (revocation,
 * introspection, device authorization): OAuth problems sent as `application/json` with
 * `Cache-Control: no-store` (RFC 6749 §5.2, which RFC 7009 §2.2.1 and RFC 7662 §2.3 refer to).
 */
export function oauthErrorDocs<const S extends readonly (keyof typeof DESCRIPTIONS)[]>(...statuses: S) {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: DESCRIPTIONS[status],
        content: { [OAUTH_ERROR_HEADERS["content-type"]]: { schema: OAuthProblemSchema } },
      },
    ]),
  ) as unknown as Record<
    S[number],
    { description: string; content: Record<string, { schema: typeof OAuthProblemSchema }> }
  >;
}
