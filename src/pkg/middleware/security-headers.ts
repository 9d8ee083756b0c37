import type { MiddlewareHandler } from "hono";

/** Exactly the headers the architecture document lists, on every response including errors. */
export const SECURITY_HEADERS = {
  "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
  "Content-Security-Policy": "default-src 'self'",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
} as const;

export function securityHeaders(): MiddlewareHandler {
  return async function securityHeaders(c, next) {
    await next();
    // Responses passed through from fetch() have immutable headers; copy those first.
    let headers = c.res.headers;
    try {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) headers.set(name, value);
    } catch {
      c.res = new Response(c.res.body, c.res);
      headers = c.res.headers;
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) headers.set(name, value);
    }
  };
}
