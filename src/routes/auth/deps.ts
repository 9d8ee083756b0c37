import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import type { LifecycleDeps } from "../../auth/account-lifecycle.ts";
import type { DeviceDeps } from "../../auth/device-grant.ts";
import { clientIp } from "../../gateway/rate-limit.ts";
import { requestOrigin } from "../request-origin.ts";

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
    client: { ...requestOrigin(c), ip: clientIp(c) },
    background: (name, task) => c.get("services").background(name, task),
  };
}

/**
 * What the account's mail flows need (src/auth/account-lifecycle.ts): Postgres (HTTP mode), the
 * queue, the web app's address, background work, and the request's origin for security events.
 */
export function lifecycleDeps(c: Context<AppEnv>): LifecycleDeps {
  const services = c.get("services");
  return {
    http: services.database.http,
    notifications: services.notifications,
    appUrl: services.config.appUrl,
    requestId: c.get("requestId"),
    origin: requestOrigin(c),
    logger: c.get("logger"),
    background: services.background,
  };
}
