import type { MiddlewareHandler } from "hono";
import { setResponseHeaders } from "./set-headers.ts";

/**
 * `Cache-Control: no-store` on every response to a request that carried credentials (an
 * `Authorization` header or a cookie) or that sets a cookie, unless the route chose its own
 * caching (a resource with validators says `private, no-cache`: kept, revalidated, never shared).
 * A response made for one caller must not be kept by a shared cache or left on disk by a browser
 * (RFC 9111 §5.2.2.5; OWASP API8:2023, ASVS V8.2.1). Errors are covered too: they pass through
 * here after the error handler has written them.
 */
export function privateResponses(): MiddlewareHandler {
  return async function privateResponses(c, next) {
    await next();
    const credentials = c.req.header("authorization") !== undefined || c.req.header("cookie") !== undefined;
    if (!credentials && !c.res.headers.has("set-cookie")) return;
    if (c.res.headers.has("cache-control")) return;
    setResponseHeaders(c, { "Cache-Control": "no-store" });
  };
}
