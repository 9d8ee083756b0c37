import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes, routePath } from "hono/route";
import type { AppEnv } from "../app/context.ts";
import type { RateDecision, RatePolicy, WindowState } from "../durable-objects/rate-limiter.ts";
import { ApiError } from "../pkg/errors/api-error.ts";
import { setResponseHeaders } from "../pkg/middleware/set-headers.ts";
import { isAuthenticating } from "./authentication.ts";
import { clientAddressKey } from "./client-address.ts";
import {
  CREDENTIAL_POLICIES,
  DEFAULT_POLICIES,
  EXEMPT_PATHS,
  type PolicyWindow,
  ROUTE_POLICIES,
} from "./rate-limit-policies.ts";

/** The client's address as Cloudflare reports it; only that header is trusted. */
export function clientIp(c: Context): string {
  return c.req.header("cf-connecting-ip") ?? "unknown";
}

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

/** RateLimit-Policy, RateLimit (draft-ietf-httpapi-ratelimit-headers) and the X-RateLimit pair. */
export function rateLimitHeaders(
  windows: readonly PolicyWindow[],
  states: readonly WindowState[],
): Record<string, string> {
  const tightest = states.reduce((a, b) => (b.remaining < a.remaining ? b : a));
  return {
    "RateLimit-Policy": windows.map((w) => `"${w.name}";q=${w.limit};w=${w.windowSeconds}`).join(", "),
    RateLimit: windows
      .map((w, i) => `"${w.name}";r=${states[i]?.remaining ?? 0};t=${seconds(states[i]?.resetMs ?? 0)}`)
      .join(", "),
    "X-RateLimit-Limit": String(tightest.limit),
    "X-RateLimit-Remaining": String(tightest.remaining),
  };
}

/**
 * Whom a request is counted for: its user on a route that authenticates (requireAuth,
 * requirePermission) when the token was accepted, its client address everywhere else (an IPv6
 * address by its /64, see `clientAddressKey`). A token sent to an anonymous route such as
 * `/auth/token` authenticates nothing there, so it must not move the request out of its
 * address's count (OWASP API4:2023).
 */
export function rateLimitSubject(c: Context<AppEnv>): string {
  const auth = c.get("auth");
  if (auth && matchedRoutes(c).some((route) => isAuthenticating(route.handler))) return `user:${auth.userId}`;
  return `ip:${clientAddressKey(clientIp(c))}`;
}

/**
 * Counts every request (but probes) in the RATE_LIMITER Durable Object of its key: policy and
 * subject (`rateLimitSubject`), one object per key. Refused requests get 429 with Retry-After. If
 * the object cannot be reached, a request of a credential policy (`CREDENTIAL_POLICIES`) gets 503
 * unless RATE_LIMIT_CREDENTIAL_FAILURE_MODE is `open`, any other passes unless
 * RATE_LIMIT_FAILURE_MODE is `closed`.
 */
export function rateLimit(): MiddlewareHandler<AppEnv> {
  return async function rateLimit(c, next) {
    if (EXEMPT_PATHS.has(c.req.path) || c.req.method === "OPTIONS") return next();
    const { gateway } = c.get("services").config;
    // A HEAD is answered by the GET route (RFC 9110 §9.3.2), so it is counted under the GET's policy.
    const method = c.req.method === "HEAD" ? "GET" : c.req.method;
    const policyName = ROUTE_POLICIES[`${method} ${routePath(c, -1)}`] ?? "api";
    const windows = gateway.rateLimitPolicies[policyName] ?? DEFAULT_POLICIES[policyName] ?? [];
    const [first, ...rest] = windows.map((w) => ({ limit: w.limit, windowMs: w.windowSeconds * 1000 }));
    if (!first) return next();
    const policy: RatePolicy = [first, ...rest];

    const key = `${policyName}:${rateLimitSubject(c)}`;
    let decision: RateDecision;
    try {
      decision = await c.env.RATE_LIMITER.get(c.env.RATE_LIMITER.idFromName(key)).hit(policy);
    } catch (error) {
      const mode = CREDENTIAL_POLICIES.has(policyName)
        ? gateway.rateLimitCredentialFailureMode
        : gateway.rateLimitFailureMode;
      c.get("logger").error("rate limiter unreachable", { key, mode, error });
      if (mode === "closed") {
        throw new ApiError("service_unavailable", {
          detail: "The rate limiter is unavailable; retry later.",
          headers: { "Retry-After": "1" },
        });
      }
      return next();
    }

    const headers = rateLimitHeaders(windows, decision.windows);
    if (!decision.allowed) {
      throw new ApiError("rate_limited", {
        detail: `Too many requests; retry in ${seconds(decision.retryAfterMs)} s.`,
        headers: { ...headers, "Retry-After": String(Math.max(1, seconds(decision.retryAfterMs))) },
      });
    }
    await next();
    setResponseHeaders(c, headers);
  };
}
