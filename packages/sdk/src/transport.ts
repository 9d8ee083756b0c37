import type { TokenSession } from "./tokens.ts";

/** The `fetch` the SDK sends through: the global one, or a caller's (tests, instrumentation, proxies). */
export type Fetch = (request: Request) => Promise<Response>;

/** How requests are authenticated: not at all, with an API key, or with a signed-in session's tokens. */
export type Authorization =
  | { kind: "anonymous" }
  | { kind: "api-key"; key: string }
  | { kind: "session"; session: TokenSession };

/**
 * Sends `request` with the Authorization of the moment (`authorization()` is read per request, so
 * signing in later applies to the next call). A request that already carries an `Authorization`
 * header is sent as it is.
 */
export type AuthorizedFetch = (request: Request, retry?: () => Request) => Promise<Response>;

/** RFC 6750 §3.1: the server refused the token itself (expired, revoked, forged), not the request. */
function refusedToken(response: Response): boolean {
  return response.status === 401 && /error="invalid_token"/.test(response.headers.get("www-authenticate") ?? "");
}

/**
 * A fetch that adds `Authorization: Bearer …` and, for a session, keeps its access token alive:
 * refreshed before it expires, and after a 401 `invalid_token` refreshed once (shared by concurrent
 * callers, see `TokenSession`) and the request sent again once, built by `retry`. Without `retry`
 * (a streamed body cannot be read twice) the 401 is returned as it is, the session refreshed for the
 * calls after it. Any other 401 (`insufficient_user_authentication`: sign in again) is returned as is.
 */
export function authorizedFetch(fetch: Fetch, authorization: () => Authorization): AuthorizedFetch {
  return async function authorized(request, retry) {
    if (request.headers.has("authorization")) return fetch(request);
    const auth = authorization();
    if (auth.kind === "anonymous") return fetch(request);
    if (auth.kind === "api-key") {
      request.headers.set("authorization", `Bearer ${auth.key}`);
      return fetch(request);
    }
    const token = await auth.session.accessToken();
    request.headers.set("authorization", `Bearer ${token}`);
    const response = await fetch(request);
    if (!refusedToken(response)) return response;
    if (!retry) {
      await auth.session.replacing(token).catch(() => {});
      return response;
    }
    await response.body?.cancel();
    const again = retry();
    again.headers.set("authorization", `Bearer ${await auth.session.replacing(token)}`);
    return fetch(again);
  };
}
