import type { MiddlewareHandler } from "hono";
import { setResponseHeaders } from "./set-headers.ts";

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
    // A route's own, stricter policy (a converted document) stays beside the platform's: a browser
    // enforces every policy it is sent (CSP Level 3, "The effect of multiple policies").
    const own = c.res.headers.get("Content-Security-Policy");
    setResponseHeaders(c, SECURITY_HEADERS);
    if (own && own !== SECURITY_HEADERS["Content-Security-Policy"])
      c.res.headers.append("Content-Security-Policy", own);
  };
}
