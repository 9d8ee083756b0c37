import type { MiddlewareHandler } from "hono";

/** Exactly the headers the architecture document lists, on every response including errors. */
export const SECURITY_HEADERS = {
  "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
  "Content-Security-Policy": "default-src 'self'",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
} as const;

const apply = (headers: Headers) => {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) headers.set(name, value);
};

export function securityHeaders(): MiddlewareHandler {
  return async function securityHeaders(c, next) {
    await next();
    try {
      apply(c.res.headers);
    } catch {
      // A response passed through from fetch() has immutable headers: answer with a copy.
      c.res = new Response(c.res.body, c.res);
      apply(c.res.headers);
    }
  };
}
