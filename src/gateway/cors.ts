import type { MiddlewareHandler } from "hono";
import { cors as honoCors } from "hono/cors";
import type { AppEnv } from "../app/context.ts";

/** Headers a browser client may read from our responses. */
const EXPOSED = [
  "X-Request-ID",
  "Location",
  "Retry-After",
  "RateLimit",
  "RateLimit-Policy",
  "X-RateLimit-Limit",
  "X-RateLimit-Remaining",
  "WWW-Authenticate",
  // Search results: whether the cache answered.
  "X-Cache",
];

/**
 * CORS for the origins in CORS_ORIGINS only (never `*`): tokens travel in the Authorization
 * header, not cookies, so credentials mode stays off. Runs after the services middleware, which
 * parses the configuration.
 */
export function cors(): MiddlewareHandler<AppEnv> {
  const handlers = new WeakMap<readonly string[], MiddlewareHandler>();
  return async function cors(c, next) {
    const allowed = c.get("services").config.gateway.corsOrigins;
    let handler = handlers.get(allowed);
    if (!handler) {
      handler = honoCors({
        origin: (origin) => (allowed.includes(origin) ? origin : null),
        allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        allowHeaders: ["Authorization", "Content-Type", "X-Request-ID"],
        exposeHeaders: EXPOSED,
        maxAge: 600,
      });
      handlers.set(allowed, handler);
    }
    return handler(c, next);
  };
}
