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
    setResponseHeaders(c, SECURITY_HEADERS);
  };
}
