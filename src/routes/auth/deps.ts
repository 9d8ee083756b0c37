import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import type { DeviceDeps } from "../../auth/device-grant.ts";
import { clientIp } from "../../gateway/rate-limit.ts";

/**
 * What the auth service needs from a request: the config, both Postgres modes, the SESSIONS,
 * LOGIN_THROTTLE and DEVICE_AUTHORIZATIONS namespaces, the client's address (as the rate limiter
 * keys it), user agent and the request id (the origin of its security events), and the request's
 * background work.
 */
export function authDeps(c: Context<AppEnv>): DeviceDeps {
  const { config, database } = c.get("services");
  return {
    config,
    db: database.db,
    http: database.http,
    sessions: c.env.SESSIONS,
    throttle: c.env.LOGIN_THROTTLE,
    devices: c.env.DEVICE_AUTHORIZATIONS,
    client: { ip: clientIp(c), userAgent: c.req.header("user-agent") ?? null, requestId: c.get("requestId") ?? null },
    background: (name, task) => c.get("services").background(name, task),
  };
}
