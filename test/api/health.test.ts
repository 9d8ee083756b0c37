import { afterEach, describe, expect, it } from "vitest";
import { api, apiWith, expectProblem, outage, outageBindings } from "../helpers.ts";

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

describe("GET /ready", () => {
  it("reports every dependency up, each with its latency", async () => {
    const res = await api("/ready");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; checks: Checks };
    expect(body.status).toBe("ready");
    for (const name of ["postgres", "redis", "s3", "queue"] as const) {
      expect(body.checks[name].status).toBe("up");
      expect(body.checks[name].latencyMs).toBeGreaterThanOrEqual(0);
    }
  });

  it("is ready against the outage stack while all of it runs", async () => {
    const res = await apiWith(outageBindings(), "/ready");
    expect(res.status).toBe(200);
  });

  it("reports the cache as disabled, not down, when none is configured", async () => {
    const res = await apiWith({ UPSTASH_REDIS_REST_URL: "", UPSTASH_REDIS_REST_TOKEN: "" }, "/ready");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { checks: Checks };
    expect(body.checks.redis.status).toBe("disabled");
  });

  describe("when a dependency is stopped", () => {
    const stopped: ("postgres" | "redis" | "s3")[] = [];
    afterEach(async () => {
      for (const service of stopped.splice(0)) await outage(service, "start");
    });

    it.each(["postgres", "redis", "s3"] as const)("answers 503 naming %s", async (service) => {
      stopped.push(service);
      await outage(service, "stop");

      const res = await apiWith(outageBindings(), "/ready");
      const problem = (await expectProblem(res, 503)) as Awaited<ReturnType<typeof expectProblem>> & { checks: Checks };
      expect(problem.detail).toBe(`Not ready: ${service} is down.`);
      expect(problem.checks[service].status).toBe("down");
      const others = (["postgres", "redis", "s3", "queue"] as const).filter((name) => name !== service);
      for (const name of others) expect(problem.checks[name].status).toBe("up");
    });
  });
});
