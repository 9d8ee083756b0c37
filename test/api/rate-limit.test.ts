import { describe, expect, it } from "vitest";
import { DEFAULT_POLICIES } from "../../src/gateway/rate-limit-policies.ts";
import { bearer, expectOAuthError, login, randomIp, signedIn } from "../auth-helpers.ts";
import { api, apiWith, expectProblem, testEnv } from "../helpers.ts";

/** Bindings with our own policies, so each test has exact limits and its own counters. */
function limits(
  policies: Record<string, { name: string; limit: number; windowSeconds: number }[]>,
  extra: Partial<Env> = {},
) {
  return { RATE_LIMIT_POLICIES: JSON.stringify(policies), ...extra } as Partial<Env>;
}

const one = (limit: number, windowSeconds = 60) => [{ name: "burst", limit, windowSeconds }];

describe("rate limiting", () => {
  it("admits exactly 100 of 200 simultaneous requests against a limit of 100", async () => {
    const bindings = limits({ api: one(100), auth: one(100) });
    const ip = randomIp();
    const responses = await Promise.all(
      Array.from({ length: 200 }, () => apiWith(bindings, "/openapi.json", { headers: { "cf-connecting-ip": ip } })),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(100);
    expect(statuses.filter((s) => s === 429)).toHaveLength(100);
  });

  it("admits exactly 100 of 200 simultaneous requests of one user against a limit of 100", async () => {
    const { auth } = await signedIn();
    const bindings = limits({ api: one(100), auth: one(100) });
    // A route that authenticates and needs no database: the user's SESSIONS object counts them.
    const responses = await Promise.all(
      Array.from({ length: 200 }, () =>
        apiWith(bindings, "/auth/sessions", { headers: { ...auth, "cf-connecting-ip": randomIp() } }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(100);
    expect(statuses.filter((s) => s === 429)).toHaveLength(100);
  });

  it("sends the policy headers and a 429 problem to a signed-in caller too", async () => {
    const { auth } = await signedIn();
    const bindings = limits({
      api: [
        { name: "burst", limit: 1, windowSeconds: 10 },
        { name: "sustained", limit: 5, windowSeconds: 600 },
      ],
    });
    const send = () => apiWith(bindings, "/users/me", { headers: { ...auth, "cf-connecting-ip": randomIp() } });
    const first = await send();
    expect(first.status).toBe(200);
    expect(first.headers.get("ratelimit-policy")).toBe('"burst";q=1;w=10, "sustained";q=5;w=600');
    expect(first.headers.get("ratelimit")).toMatch(/^"burst";r=0;t=\d+, "sustained";r=4;t=\d+$/);
    const refused = await send();
    const problem = await expectProblem(refused, 429);
    expect(problem.type).toBe("/problems/rate_limited");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
  });

  it("counts a token whose session has ended by its address, not its user", async () => {
    const { user, password } = await signedIn();
    const ended = await login(user.username, password);
    const live = bearer((await login(user.username, password)).access_token);
    const logout = await api("/auth/logout", { method: "POST", headers: bearer(ended.access_token) });
    expect(logout.status).toBe(204);
    const bindings = limits({ api: one(2) });
    const ip = randomIp();
    const me = (headers: Record<string, string>) =>
      apiWith(bindings, "/users/me", { headers: { ...headers, "cf-connecting-ip": ip } });
    await expectProblem(await me(bearer(ended.access_token)), 401);
    await expectProblem(await me(bearer(ended.access_token)), 401);
    await expectProblem(await me(bearer(ended.access_token)), 429);
    // The user's own count, from the same address, is untouched.
    expect((await me(live)).status).toBe(200);
  });

  it("sends the policy and what is left, and Retry-After when refused", async () => {
    const bindings = limits({
      api: [
        { name: "burst", limit: 2, windowSeconds: 10 },
        { name: "sustained", limit: 5, windowSeconds: 600 },
      ],
    });
    const ip = randomIp();
    const send = () => apiWith(bindings, "/docs", { headers: { "cf-connecting-ip": ip } });
    const first = await send();
    expect(first.headers.get("ratelimit-policy")).toBe('"burst";q=2;w=10, "sustained";q=5;w=600');
    expect(first.headers.get("ratelimit")).toMatch(/^"burst";r=1;t=\d+, "sustained";r=4;t=\d+$/);
    expect(first.headers.get("x-ratelimit-limit")).toBe("2");
    expect(first.headers.get("x-ratelimit-remaining")).toBe("1");
    await send();
    const refused = await send();
    const problem = await expectProblem(refused, 429);
    expect(problem.type).toBe("/problems/rate_limited");
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
  });

  it("counts an authenticated caller by user, wherever they connect from", async () => {
    const { auth } = await signedIn();
    const bindings = limits({ api: one(3) });
    for (let i = 0; i < 3; i++) {
      expect(
        (await apiWith(bindings, "/users/me", { headers: { ...auth, "cf-connecting-ip": randomIp() } })).status,
      ).toBe(200);
    }
    await expectProblem(
      await apiWith(bindings, "/users/me", { headers: { ...auth, "cf-connecting-ip": randomIp() } }),
      429,
    );
    // Another caller from one of those addresses is not affected.
    expect((await apiWith(bindings, "/openapi.json", { headers: { "cf-connecting-ip": randomIp() } })).status).toBe(
      200,
    );
  });

  it("counts anonymous callers by client address", async () => {
    const bindings = limits({ api: one(2) });
    const ip = randomIp();
    await apiWith(bindings, "/openapi.json", { headers: { "cf-connecting-ip": ip } });
    await apiWith(bindings, "/openapi.json", { headers: { "cf-connecting-ip": ip } });
    await expectProblem(await apiWith(bindings, "/openapi.json", { headers: { "cf-connecting-ip": ip } }), 429);
    expect((await apiWith(bindings, "/openapi.json", { headers: { "cf-connecting-ip": randomIp() } })).status).toBe(
      200,
    );
  });

  it("counts a request to an anonymous route by its address even when it carries a valid token", async () => {
    const { auth } = await signedIn();
    const bindings = limits({ api: one(2), token: one(2) });
    const ip = randomIp();
    const openapi = (headers: Record<string, string>) =>
      apiWith(bindings, "/openapi.json", { headers: { ...headers, "cf-connecting-ip": ip } });
    expect((await openapi(auth)).status).toBe(200);
    expect((await openapi(auth)).status).toBe(200);
    await expectProblem(await openapi({}), 429);
    // The token endpoint too: a token does not buy a fresh count there.
    const token = (headers: Record<string, string>) =>
      apiWith(bindings, "/auth/token", {
        method: "POST",
        headers: { ...headers, "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip },
        body: "grant_type=password&username=nobody&password=nothing-at-all",
      });
    await expectOAuthError(await token(auth), 400, "invalid_grant");
    await expectOAuthError(await token(auth), 400, "invalid_grant");
    await expectOAuthError(await token({}), 429, "slow_down");
    // The user's own count, used by the routes that authenticate, was not touched.
    expect((await apiWith(bindings, "/users/me", { headers: { ...auth, "cf-connecting-ip": ip } })).status).toBe(200);
  });

  it("counts an IPv6 client by its /64", async () => {
    const bindings = limits({ api: one(2) });
    const [a = 0, b = 0] = crypto.getRandomValues(new Uint16Array(2));
    const network = `2001:db8:${a.toString(16)}:${b.toString(16)}`;
    const from = (ip: string) => apiWith(bindings, "/openapi.json", { headers: { "cf-connecting-ip": ip } });
    expect((await from(`${network}::1`)).status).toBe(200);
    expect((await from(`${network}::2`)).status).toBe(200);
    await expectProblem(await from(`${network}:1:2:3:4`), 429);
  });

  it("applies the token policy to the token endpoint, apart from api and auth", async () => {
    const bindings = limits({ api: one(100), auth: one(1), token: one(1) });
    const ip = randomIp();
    const token = () =>
      apiWith(bindings, "/auth/token", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip },
        body: "grant_type=password&username=nobody&password=nothing-at-all",
      });
    await expectOAuthError(await token(), 400, "invalid_grant");
    await expectOAuthError(await token(), 429, "slow_down");
    expect((await apiWith(bindings, "/openapi.json", { headers: { "cf-connecting-ip": ip } })).status).toBe(200);
    // Registration (auth) still has its own count.
    const registration = await apiWith(bindings, "/users", {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": ip },
      body: JSON.stringify({ email: "x" }),
    });
    expect(registration.status).toBe(400);
  });

  it("lets a device poll every 5 s for its 10 minutes and a page refresh often, by default", () => {
    // RFC 8628 §3.5: 5 s between polls, the device code living 600 s (src/auth/device-grant.ts).
    const polls = 600 / 5;
    const [burst, sustained] = DEFAULT_POLICIES.token;
    expect((burst?.limit ?? 0) / (burst?.windowSeconds ?? 1)).toBeGreaterThanOrEqual(1 / 5);
    expect(sustained?.limit).toBeGreaterThanOrEqual(polls * 2);
  });

  it("does not count health probes", async () => {
    const bindings = limits({ api: one(1) });
    const ip = randomIp();
    for (let i = 0; i < 3; i++)
      expect((await apiWith(bindings, "/health", { headers: { "cf-connecting-ip": ip } })).status).toBe(200);
  });

  // A real Durable Object namespace whose objects have no `hit` method: every call to the limiter fails.
  const broken = { RATE_LIMITER: testEnv.SESSIONS as unknown as Env["RATE_LIMITER"] };

  it("lets requests through when the limiter fails and the mode is fail-open", async () => {
    const res = await apiWith(limits({ api: one(1) }, { ...broken, RATE_LIMIT_FAILURE_MODE: "open" }), "/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("ratelimit")).toBeNull();
  });

  it("by default fails closed on the routes that take credentials and open on the others", async () => {
    const bindings = limits({ api: one(1), auth: one(1), token: one(1) }, broken);
    const ip = { "cf-connecting-ip": randomIp() };
    const form = { ...ip, "content-type": "application/x-www-form-urlencoded" };
    const json = { ...ip, "content-type": "application/json" };
    const credentialRoutes: [string, RequestInit][] = [
      ["/auth/token", { method: "POST", headers: form, body: "grant_type=password&username=nobody&password=nothing" }],
      ["/auth/refresh", { method: "POST", headers: json, body: JSON.stringify({ refresh_token: "x" }) }],
      ["/users", { method: "POST", headers: json, body: JSON.stringify({ email: "a@example.com" }) }],
    ];
    for (const [path, init] of credentialRoutes) {
      const res = await apiWith(bindings, path, init);
      expect(res.status, path).toBe(503);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    }
    expect((await apiWith(bindings, "/openapi.json", { headers: ip })).status).toBe(200);
    // RATE_LIMIT_CREDENTIAL_FAILURE_MODE=open lets them through as well.
    const open = limits(
      { api: one(1), auth: one(1), token: one(1) },
      { ...broken, RATE_LIMIT_CREDENTIAL_FAILURE_MODE: "open" },
    );
    const [path, init] = credentialRoutes[0] ?? ["", {}];
    await expectOAuthError(await apiWith(open, path, init), 400, "invalid_grant");
  });

  it("answers 503 when the limiter fails and the mode is fail-closed", async () => {
    const res = await apiWith(
      limits({ api: one(1) }, { ...broken, RATE_LIMIT_FAILURE_MODE: "closed" }),
      "/openapi.json",
    );
    const problem = await expectProblem(res, 503);
    expect(problem.detail).toMatch(/rate limiter/);
  });
});
