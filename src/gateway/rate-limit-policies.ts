/** One window of a policy, as configured: at most `limit` requests per `windowSeconds`. */
export interface PolicyWindow {
  /** Names the window in the RateLimit headers, e.g. "burst". */
  name: string;
  limit: number;
  windowSeconds: number;
}

export type Policies = Record<string, PolicyWindow[]>;

/**
 * The built-in policies; `RATE_LIMIT_POLICIES` may replace any of them by name. Every request is
 * counted against each window of its policy (burst and sustained together).
 */
export const DEFAULT_POLICIES: Policies = {
  api: [
    { name: "burst", limit: 100, windowSeconds: 10 },
    { name: "sustained", limit: 2_000, windowSeconds: 600 },
  ],
  // Credentials are guessed through the token endpoint and registration: much stricter.
  auth: [
    { name: "burst", limit: 10, windowSeconds: 60 },
    { name: "sustained", limit: 60, windowSeconds: 3_600 },
  ],
};

/** Route → policy; anything not listed uses `api`. Keys are "METHOD /path" as routes declare them. */
export const ROUTE_POLICIES: Record<string, string> = {
  "POST /auth/token": "auth",
  "POST /auth/refresh": "auth",
  "POST /users": "auth",
};

/** Probes must always reach the worker: they are not counted. */
export const EXEMPT_PATHS = new Set(["/health", "/ready"]);
