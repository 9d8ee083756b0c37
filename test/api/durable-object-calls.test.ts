import { afterEach, describe, expect, it, vi } from "vitest";
import { keyAuth } from "../api-key-helpers.ts";
import { randomIp, register, signedIn, signedInAdmin, tokenRequest } from "../auth-helpers.ts";
import { api, apiWith, captureLines, testEnv } from "../helpers.ts";

afterEach(() => vi.restoreAllMocks());

/** The count of Durable Object calls a response reports (W3C Server Timing, `desc` of the metric). */
function durableObjectCalls(res: Response): number | undefined {
  const metric = /(?:^|,)\s*durable-objects;desc="(\d+)"/.exec(res.headers.get("server-timing") ?? "");
  return metric?.[1] === undefined ? undefined : Number(metric[1]);
}

const from = () => ({ "cf-connecting-ip": randomIp() });

describe("Durable Object calls per request", () => {
  it("an authenticated request makes one before its handler: session check and rate limit together", async () => {
    const { auth } = await signedIn();
    const res = await api("/users/me", { headers: { ...auth, ...from() } });
    expect(res.status).toBe(200);
    expect(res.headers.get("ratelimit-policy")).not.toBeNull();
    expect(durableObjectCalls(res)).toBe(1);
  });

  it("an administrators-only request makes one too: counted as the administrator's, not the address's", async () => {
    const admin = await signedInAdmin();
    const res = await api("/analytics/search/suppressed-queries", { headers: { ...admin.auth, ...from() } });
    expect(res.status).toBe(200);
    expect(durableObjectCalls(res)).toBe(1);
  });

  it("an anonymous request makes one (its address's rate limiter); the liveness probe none", async () => {
    const res = await api("/openapi.json", { headers: from() });
    expect(res.status).toBe(200);
    expect(durableObjectCalls(res)).toBe(1);
    expect(durableObjectCalls(await api("/health"))).toBe(0);
  });

  it("counts the handler's calls too, and errors carry the count", async () => {
    const { auth } = await signedIn();
    // The gateway's call reads the sessions this route shows; ending one is the handler's call.
    const listed = await api("/auth/sessions", { headers: { ...auth, ...from() } });
    expect(listed.status).toBe(200);
    expect(durableObjectCalls(listed)).toBe(1);
    expect(durableObjectCalls(await api("/auth/sessions", { method: "DELETE", headers: { ...auth, ...from() } }))).toBe(
      2,
    );
    // A token on an anonymous route: the session check and the address's count, in parallel.
    expect(durableObjectCalls(await api("/openapi.json", { headers: { ...auth, ...from() } }))).toBe(2);
    const refused = await api("/users/me", { headers: { authorization: "Bearer nope", ...from() } });
    expect(refused.status).toBe(401);
    expect(durableObjectCalls(refused)).toBe(1);
  });

  it("an API key's request makes one before its handler: key check, last use and per-key count together", async () => {
    const { auth } = await signedIn();
    const created = await api("/api-keys", {
      method: "POST",
      headers: { ...auth, ...from(), "content-type": "application/json" },
      body: JSON.stringify({ name: "counted", scopes: ["read"] }),
    });
    expect(created.status).toBe(201);
    // The gateway's call, then the new key's live copy.
    expect(durableObjectCalls(created)).toBe(2);
    const { id, key } = (await created.json()) as { id: string; key: string };
    const used = await api("/users/me", { headers: { ...keyAuth(key), ...from() } });
    expect(used.status).toBe(200);
    expect(used.headers.get("ratelimit-policy")).not.toBeNull();
    expect(durableObjectCalls(used)).toBe(1);
    // The listing's last uses come with the gateway's session check.
    const listed = await api("/api-keys", { headers: { ...auth, ...from() } });
    expect(listed.status).toBe(200);
    expect(durableObjectCalls(listed)).toBe(1);
    const revoked = await api(`/api-keys/${id}`, { method: "DELETE", headers: { ...auth, ...from() } });
    expect(revoked.status).toBe(204);
    expect(durableObjectCalls(revoked)).toBe(2);
    // A refused key: its owner's object says no, then the request is counted by its address.
    const refused = await api("/users/me", { headers: { ...keyAuth(key), ...from() } });
    expect(refused.status).toBe(401);
    expect(durableObjectCalls(refused)).toBe(2);
    // A malformed one is refused in the isolate: the address's count only.
    const malformed = await api("/users/me", { headers: { ...keyAuth(`${key}x`), ...from() } });
    expect(malformed.status).toBe(401);
    expect(durableObjectCalls(malformed)).toBe(1);
  });

  it("the token endpoints: a login and a refresh", async () => {
    const { user, password } = await register();
    const login = await tokenRequest({ grant_type: "password", username: user.username, password });
    expect(login.status).toBe(200);
    // The address's limiter; the account's and address's throttles (reserved, then settled, each
    // pair in parallel); the new session.
    expect(durableObjectCalls(login)).toBe(6);
    const { refresh_token } = (await login.json()) as { refresh_token: string };
    const refresh = await api("/auth/refresh", {
      method: "POST",
      headers: { "content-type": "application/json", ...from() },
      body: JSON.stringify({ refresh_token }),
    });
    expect(refresh.status).toBe(200);
    // The address's limiter, the address's throttle, the rotation in the user's SESSIONS object.
    expect(durableObjectCalls(refresh)).toBe(3);
  });

  it("logs the count with the request", async () => {
    const { auth } = await signedIn();
    const lines = await captureLines(() =>
      apiWith({ LOG_LEVEL: "info" }, "/users/me", { headers: { ...auth, ...from() } }),
    );
    expect(lines.find((line) => line.message === "request")).toMatchObject({ status: 200, durableObjectCalls: 1 });
  });

  it("sends no Server-Timing in production", async () => {
    const production = {
      ENVIRONMENT: "production",
      DATABASE_HOST: new URL(testEnv.DATABASE_URL).hostname,
      NEON_LOCAL_PROXY: undefined,
      OIDC_PROVIDERS: undefined,
      OIDC_ALLOW_HTTP: "false",
      WEBHOOK_ALLOW_LOCAL_RECEIVERS: "false",
    } as Partial<Env>;
    const res = await apiWith(production, "/openapi.json", { headers: from() });
    expect(res.status).toBe(200);
    expect(res.headers.get("server-timing")).toBeNull();
    // The same request outside production does carry it.
    expect(durableObjectCalls(await apiWith({ ENVIRONMENT: testEnv.ENVIRONMENT }, "/openapi.json"))).toBe(1);
  });
});
