import type { MiddlewareHandler } from "hono";
import { PROBLEM_CONTENT_TYPE } from "../pkg/errors/problem.ts";

/** The media type and caching RFC 6749 §5.1–§5.2 prescribe for token endpoint responses. */
export const OAUTH_ERROR_HEADERS = {
  "content-type": "application/json",
  "cache-control": "no-store",
  pragma: "no-cache",
} as const;

/**
 * The `error` code for a problem that carries none (one raised before the route could speak
 * OAuth: the gateway's rate limit, a dependency, the media type). RFC 6749 §5.2 for client
 * mistakes, §4.1.2.1 `temporarily_unavailable` and `server_error` for ours, RFC 8628 §3.5
 * `slow_down` for too many requests (as the login throttle answers).
 */
export function oauthErrorCode(status: number): string {
  if (status === 401) return "invalid_client";
  if (status === 429) return "slow_down";
  if (status === 503) return "temporarily_unavailable";
  if (status >= 500) return "server_error";
  return "invalid_request";
}

/**
 * RFC 6749 §5.2: `error_description` holds only %x20-21 / %x23-5B / %x5D-7E (printable ASCII
 * without `"` and `\`). Validation messages quote values, and some details use typographic marks.
 */
export function oauthDescription(text: string): string {
  return text
    .replaceAll("…", "...")
    .replace(/["\u2018\u2019\u201c\u201d]/g, "'")
    .replaceAll("\\", "/")
    .replace(/[^\x20-\x7e]/g, "?");
}

function isProblem(response: Response): boolean {
  const type = response.headers.get("content-type") ?? "";
  return type.split(";")[0]?.trim().toLowerCase() === PROBLEM_CONTENT_TYPE;
}

/**
 * For a token endpoint: every error leaves as RFC 6749 §5.2 expects it, `application/json` with
 * `Cache-Control: no-store`, an `error` code and `error_description`, whichever layer raised it
 * (gateway, validation, handler). The RFC 9457 members (`type`, `title`, `status`, `detail`,
 * `requestId` …) stay in the body; only the media type differs, because OAuth clients refuse any
 * other (oauth4webapi does). Mount it outside the gateway so its 429 and 503 are covered too.
 */
export function oauthErrorResponses(): MiddlewareHandler {
  return async function oauthErrorResponses(c, next) {
    await next();
    const response = c.res;
    if (response.status < 400 || !isProblem(response)) return;
    const problem = (await response.json()) as Record<string, unknown>;
    const description = typeof problem.error_description === "string" ? problem.error_description : problem.detail;
    const body = {
      ...problem,
      error: typeof problem.error === "string" ? problem.error : oauthErrorCode(response.status),
      error_description: oauthDescription(typeof description === "string" ? description : ""),
    };
    const headers = new Headers(response.headers);
    for (const [name, value] of Object.entries(OAUTH_ERROR_HEADERS)) headers.set(name, value);
    headers.delete("content-length");
    // Replaced, not merged: Hono's setter would otherwise copy the old headers over these.
    c.res = undefined;
    c.res = new Response(JSON.stringify(body), { status: response.status, headers });
  };
}
