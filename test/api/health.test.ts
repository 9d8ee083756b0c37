import { afterEach, describe, expect, it } from "vitest";
import { READY_CACHE_MS } from "../../src/app/readiness.ts";
import { DEFAULT_POLICIES } from "../../src/gateway/rate-limit-policies.ts";
import { randomIp, signedInAdmin } from "../auth-helpers.ts";
import { api, apiWith, expectProblem, outage, outageBindings, testEnv } from "../helpers.ts";

interface Check {
  status: "up" | "down" | "disabled";
  latencyMs: number;
  reason?: string;
}
type Checks = Record<"postgres" | "redis" | "s3" | "queue", Check>;

describe("GET /health", () => {
  it("answers ok without touching dependencies", async () => {
    const res = await api("/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });
});

/** An admin's headers, plus a client address of the test's own (the probe limit counts per address). */
async function adminProbe(): Promise<Record<string, string>> {
  const admin = await signedInAdmin();
  return { ...admin.auth, "cf-connecting-ip": randomIp() };
}

/** The outage stack's bindings, but verifying tokens as the main stack does (sessions are shared). */
function outageWithMainTokens(): Partial<Env> {
  return {
    ...outageBindings(),
    JWT_SIGNING_KEYS: testEnv.JWT_SIGNING_KEYS,
    JWT_ISSUER: testEnv.JWT_ISSUER,
    JWT_AUDIENCE: testEnv.JWT_AUDIENCE,
  };
}

describe("GET /ready", () => {
  it("tells anyone only whether the platform is ready: the status code, no dependency", async () => {
    const res = await api("/ready", { headers: { "cf-connecting-ip": randomIp() } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ready" });
  });

  it("reports every dependency up, each with its latency, to an administrator", async () => {
    const res = await api("/ready", { headers: await adminProbe() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; checks: Checks; checkedAt: string };
    expect(body.status).toBe("ready");
    for (const name of ["postgres", "redis", "s3", "queue"] as const) {
      expect(body.checks[name].status).toBe("up");
      expect(body.checks[name].latencyMs).toBeGreaterThanOrEqual(0);
    }
    expect(Date.now() - Date.parse(body.checkedAt)).toBeLessThan(READY_CACHE_MS + 5_000);
  });

  it(`answers from the isolate's last checks for ${READY_CACHE_MS / 1000} s instead of touching every dependency again`, async () => {
    const headers = await adminProbe();
    const first = (await (await api("/ready", { headers })).json()) as { checkedAt: string; checks: Checks };
    for (let i = 0; i < 5; i++) {
      expect(await api("/ready", { headers: { "cf-connecting-ip": randomIp() } }).then((r) => r.status)).toBe(200);
    }
    const again = (await (await api("/ready", { headers })).json()) as { checkedAt: string; checks: Checks };
    expect(again.checkedAt).toBe(first.checkedAt);
    expect(again.checks).toEqual(first.checks);
  });

  it("limits each client address (policy probe), with Retry-After and the RateLimit headers", async () => {
    const ip = randomIp();
    const [policy] = DEFAULT_POLICIES.probe ?? [];
    if (!policy) throw new Error("no probe policy");
    for (let i = 0; i < policy.limit; i++) {
      expect((await api("/ready", { headers: { "cf-connecting-ip": ip } })).status).toBe(200);
    }
    const refused = await api("/ready", { headers: { "cf-connecting-ip": ip } });
    await expectProblem(refused, 429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get("ratelimit-policy")).toBe(`"probe";q=${policy.limit};w=${policy.windowSeconds}`);
    // A HEAD is the GET without its body: counted under the same policy, so it is refused too.
    const head = await api("/ready", { method: "HEAD", headers: { "cf-connecting-ip": ip } });
    expect(head.status).toBe(429);
    expect(head.headers.get("ratelimit-policy")).toBe(`"probe";q=${policy.limit};w=${policy.windowSeconds}`);
    // Another address is not affected; /health is never counted.
    expect((await api("/ready", { headers: { "cf-connecting-ip": randomIp() } })).status).toBe(200);
    for (let i = 0; i < 3; i++)
      expect((await api("/health", { headers: { "cf-connecting-ip": ip } })).status).toBe(200);
  });

  it("takes the probe policy from RATE_LIMIT_POLICIES when it names one", async () => {
    const ip = { "cf-connecting-ip": randomIp() };
    const bindings = {
      RATE_LIMIT_POLICIES: JSON.stringify({ probe: [{ name: "probe", limit: 2, windowSeconds: 60 }] }),
    };
    expect((await apiWith(bindings, "/ready", { headers: ip })).status).toBe(200);
    expect((await apiWith(bindings, "/ready", { headers: ip })).status).toBe(200);
    await expectProblem(await apiWith(bindings, "/ready", { headers: ip }), 429);
  });

  it("is ready against the outage stack while all of it runs", async () => {
    const res = await apiWith(outageBindings(), "/ready", { headers: { "cf-connecting-ip": randomIp() } });
    expect(res.status).toBe(200);
  });

  it("reports the cache as disabled, not down, when none is configured", async () => {
    const res = await apiWith({ UPSTASH_REDIS_REST_URL: "", UPSTASH_REDIS_REST_TOKEN: "" }, "/ready", {
      headers: await adminProbe(),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { checks: Checks };
    expect(body.checks.redis.status).toBe("disabled");
  });

  describe("when a dependency is stopped", () => {
    const stopped: ("postgres" | "redis" | "s3")[] = [];
    afterEach(async () => {
      for (const service of stopped.splice(0)) await outage(service, "start");
    });

    it.each(["postgres", "redis", "s3"] as const)(
      "answers 503; only an administrator learns it is %s",
      async (service) => {
        const headers = await adminProbe();
        stopped.push(service);
        await outage(service, "stop");

        const anonymous = await expectProblem(
          await apiWith(outageBindings(), "/ready", { headers: { "cf-connecting-ip": randomIp() } }),
          503,
        );
        expect(anonymous.detail).toBe("Not ready: a dependency is down.");
        expect(anonymous).not.toHaveProperty("checks");
        expect(JSON.stringify(anonymous)).not.toContain(service);

        const res = await apiWith(outageWithMainTokens(), "/ready", { headers });
        const problem = (await expectProblem(res, 503)) as Awaited<ReturnType<typeof expectProblem>> & {
          checks: Checks;
        };
        expect(problem.detail).toBe(`Not ready: ${service} is down.`);
        expect(problem.checks[service].status).toBe("down");
        const others = (["postgres", "redis", "s3", "queue"] as const).filter((name) => name !== service);
        for (const name of others) expect(problem.checks[name].status).toBe("up");
      },
    );
  });
});
