import type { MiddlewareHandler } from "hono";
import { createLogger, type Logger } from "../pkg/logger/logger.ts";

/** Used before the configuration (and so the log level) is known, e.g. when it is invalid. */
export const fallbackLogger: Logger = createLogger({ level: "info" });

/**
 * One JSON line per request: method, path (never the query string, which may carry tokens),
 * status, duration, request id, once authenticated the user id, and how many Durable Object calls
 * the request made (`durableObjectCalls`, once counting has started).
 */
export function requestLog(): MiddlewareHandler {
  return async function requestLog(c, next) {
    const started = Date.now();
    await next();
    const logger = c.get("logger") ?? fallbackLogger.with({ requestId: c.get("requestId"), traceId: c.get("traceId") });
    const status = c.res.status;
    const fields = {
      method: c.req.method,
      path: c.req.path,
      status,
      durationMs: Date.now() - started,
      userId: c.get("userId"),
      durableObjectCalls: c.get("durableObjectCalls")?.count,
    };
    if (status >= 500) logger.error("request", fields);
    else logger.info("request", fields);
  };
}
