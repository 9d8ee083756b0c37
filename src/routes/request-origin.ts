import type { Context } from "hono";
import type { AppEnv } from "../app/context.ts";
import type { RequestOrigin } from "../db/queries/audit.ts";
import { clientIp } from "../gateway/rate-limit.ts";

/**
 * Where a request came from, as a security event records it: the client address the gateway keys
 * rate limits by (IPv6 in full), the `User-Agent`, our request id (`X-Request-ID`) and the
 * client's own, if it sent one.
 */
export function requestOrigin(c: Context<AppEnv>): RequestOrigin {
  return {
    ip: clientIp(c),
    userAgent: c.req.header("user-agent") ?? null,
    requestId: c.get("requestId") ?? null,
    clientRequestId: c.get("clientRequestId") ?? null,
  };
}
