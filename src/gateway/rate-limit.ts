import type { Context } from "hono";
import type { AppEnv } from "../app/context.ts";
import type { RateDecision, RatePolicy, WindowState } from "../durable-objects/sliding-window.ts";
import { ApiError } from "../pkg/errors/api-error.ts";
import { clientAddressKey } from "../pkg/http/client-address.ts";
import { RATE_LIMIT_REFUSALS } from "../pkg/metrics/catalog.ts";
import { isolateMetrics } from "../pkg/metrics/recorder.ts";
import { CREDENTIAL_POLICIES, DEFAULT_POLICIES, type PolicyWindow } from "./rate-limit-policies.ts";
import type { DeclaredRoute } from "./route-traits.ts";
import { setResponseHeaders } from "./set-headers.ts";

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

/** The policy a request is counted under: its name, its windows as configured, and as the objects take them. */
export interface RequestLimit {
  name: string;
  windows: readonly PolicyWindow[];
  policy: RatePolicy;
}

/**
 * The policy a request is counted under: the one its route declares (`rateLimit`, see
 * `servedRoute`), else `api`; its windows from RATE_LIMIT_POLICIES, else `DEFAULT_POLICIES`.
 * Undefined when the request is not counted: a route declaring `rateLimit: false` (the liveness
 * probe), CORS preflights, a policy configured without windows.
 */
export function requestLimit(c: Context<AppEnv>, route: DeclaredRoute | undefined): RequestLimit | undefined {
  const declared = route?.traits.rateLimit;
  if (declared === false || c.req.method === "OPTIONS") return undefined;
  const { gateway } = c.get("services").config;
  const name = declared ?? "api";
  const windows = gateway.rateLimitPolicies[name] ?? DEFAULT_POLICIES[name];
  const [first, ...rest] = windows.map((w) => ({ limit: w.limit, windowMs: w.windowSeconds * 1000 }));
  return first ? { name, windows, policy: [first, ...rest] } : undefined;
}

/**
 * Counts a request by its client address (an IPv6 address by its /64, see `clientAddressKey`) in
 * the RATE_LIMITER Durable Object of its policy and address, one object per key. A request is
 * counted by its user instead only on a route that authenticates, with a live session (in the
 * user's SESSIONS object, see `gateway`): a token sent to an anonymous route such as
 * `/auth/token` authenticates nothing there, so it must not move the request out of its
 * address's count (OWASP API4:2023).
 *
 * @returns the decision, or undefined when the object could not be reached and the request's
 *   failure mode is `open`: RATE_LIMIT_CREDENTIAL_FAILURE_MODE for a credential policy
 *   (`CREDENTIAL_POLICIES`; default `closed`), RATE_LIMIT_FAILURE_MODE for the others (default `open`).
 * @throws ApiError `service_unavailable` (503, Retry-After 1) when the mode is `closed`.
 */
export async function countByAddress(c: Context<AppEnv>, limit: RequestLimit): Promise<RateDecision | undefined> {
  const key = `${limit.name}:ip:${clientAddressKey(clientIp(c))}`;
  try {
    return await c.env.RATE_LIMITER.get(c.env.RATE_LIMITER.idFromName(key)).hit(limit.policy);
  } catch (error) {
    const { gateway } = c.get("services").config;
    const mode = CREDENTIAL_POLICIES.has(limit.name)
      ? gateway.rateLimitCredentialFailureMode
      : gateway.rateLimitFailureMode;
    c.get("logger").error("rate limiter unreachable", { key, mode, error });
    if (mode === "closed") {
      throw new ApiError("service_unavailable", {
        detail: "The rate limiter is unavailable; retry later.",
        headers: { "Retry-After": "1" },
      });
    }
    return undefined;
  }
}

/**
 * Enforces a decision: a refused request is a 429 `rate_limited` with Retry-After and the rate
 * limit headers; an admitted one gets the headers on its response once `next` has run.
 */
export async function enforce(
  c: Context<AppEnv>,
  limit: RequestLimit | undefined,
  decision: RateDecision | undefined,
  next: () => Promise<void>,
): Promise<void> {
  if (!limit || !decision) return next();
  const headers = rateLimitHeaders(limit.windows, decision.windows);
  // A policy's refusal count exists at 0 from its first counted request on: its first refusal is
  // then an increase Prometheus sees.
  isolateMetrics.add(RATE_LIMIT_REFUSALS, { policy: limit.name }, decision.allowed ? 0 : 1);
  if (!decision.allowed) {
    throw new ApiError("rate_limited", {
      detail: `Too many requests; retry in ${seconds(decision.retryAfterMs)} s.`,
      headers: { ...headers, "Retry-After": String(Math.max(1, seconds(decision.retryAfterMs))) },
    });
  }
  await next();
  setResponseHeaders(c, headers);
}
