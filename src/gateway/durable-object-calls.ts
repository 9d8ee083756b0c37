import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app/context.ts";
import { isDeployed } from "../pkg/config/environments.ts";
import { watchCall } from "../pkg/metrics/recorder.ts";

/** The Durable Object calls one request has made so far (RPC method calls and `fetch`). */
export interface DurableObjectCallCount {
  count: number;
}

/**
 * A stub whose every method call (RPC or `fetch`) adds one to `calls` before it crosses to the
 * object. Properties that are not methods (`id`, `name`) pass through uncounted.
 */
function countingStub<S extends object>(stub: S, binding: string, calls: DurableObjectCallCount): S {
  return new Proxy(stub, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property);
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]) => {
        calls.count += 1;
        // Timed as a dependency call (`SESSIONS.authorize`), its RPC promise passed on untouched.
        return watchCall(
          "durable_object",
          `${binding}.${property}`,
          performance.now(),
          Reflect.apply(value, target, args),
        );
      };
    },
  });
}

function countingNamespace<T extends Rpc.DurableObjectBranded | undefined>(
  namespace: DurableObjectNamespace<T>,
  binding: string,
  calls: DurableObjectCallCount,
): DurableObjectNamespace<T> {
  return {
    newUniqueId: (options) => namespace.newUniqueId(options),
    idFromName: (name) => namespace.idFromName(name),
    idFromString: (id) => namespace.idFromString(id),
    get: (id, options) => countingStub(namespace.get(id, options), binding, calls),
    getByName: (name, options) => countingStub(namespace.getByName(name, options), binding, calls),
    jurisdiction: (jurisdiction) => countingNamespace(namespace.jurisdiction(jurisdiction), binding, calls),
  };
}

/**
 * Counts the Durable Object calls each request makes, and times each one as a dependency call
 * (`techcorp_dependency_call_duration_seconds{dependency="durable_object"}`; the metrics
 * aggregator's own calls are neither) (each one crosses to wherever its object
 * lives, see README "Where each Durable Object lives"): the Durable Object bindings in `c.env`
 * (SESSIONS, RATE_LIMITER, LOGIN_THROTTLE, DEVICE_AUTHORIZATIONS; a new one must be added here) are replaced, for this
 * request, by views that count every stub method call, so handlers need not know. The count
 * is logged with the request (`durableObjectCalls`) and, outside production, sent as a W3C Server
 * Timing metric, `Server-Timing: durable-objects;desc="<count>"`
 * (https://www.w3.org/TR/server-timing/), which `npm run bench` reads. Runs after `services()`,
 * whose configuration says the environment; from here on `c.env` is a per-request copy, so code
 * after it reads the configuration from the services (`loadApiConfig(c.env)` would parse again).
 */
export function durableObjectCalls(): MiddlewareHandler<AppEnv> {
  return async function durableObjectCalls(c, next) {
    const calls: DurableObjectCallCount = { count: 0 };
    c.set("durableObjectCalls", calls);
    const original = c.env;
    c.env = {
      ...original,
      SESSIONS: countingNamespace(original.SESSIONS, "SESSIONS", calls),
      RATE_LIMITER: countingNamespace(original.RATE_LIMITER, "RATE_LIMITER", calls),
      LOGIN_THROTTLE: countingNamespace(original.LOGIN_THROTTLE, "LOGIN_THROTTLE", calls),
      DEVICE_AUTHORIZATIONS: countingNamespace(original.DEVICE_AUTHORIZATIONS, "DEVICE_AUTHORIZATIONS", calls),
    };
    await next();
    if (isDeployed(c.get("services").config.environment)) return;
    const metric = `durable-objects;desc="${calls.count}"`;
    try {
      c.res.headers.append("Server-Timing", metric);
    } catch {
      // A response passed through from fetch() has immutable headers: copy it first.
      c.res = new Response(c.res.body, c.res);
      c.res.headers.append("Server-Timing", metric);
    }
  };
}
