import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { freePort } from "../../stack/ports.ts";
import {
  API_SCRAPE_JOB,
  findPrometheus,
  PROMETHEUS_INSTALL_HINT,
  type Prometheus,
  startPrometheus,
} from "../../stack/prometheus.ts";
import { startWranglerDev, type WranglerDev, waitUntilServing } from "../../stack/wrangler.ts";

// The API served by `wrangler dev` against the test stack, scraped by a real Prometheus configured
// as `npm run dev` configures it (stack/prometheus.ts) with the stack's METRICS_TOKEN; what it
// stored is read back through its HTTP API. A second Prometheus sends a wrong token and must be
// refused, so a passing `up` means the token was checked.

const REQUESTS = 5;
/** Every second, so that the test waits seconds for a sample, not `npm run dev`'s 5 s. */
const SCRAPE_INTERVAL_SECONDS = 1;
/** The API's first scrape comes after Prometheus's service discovery settles (about 5 s). */
const SCRAPE_TIMEOUT_MS = 30_000;
const UP = `up{job="${API_SCRAPE_JOB}"}`;

const querySchema = z.object({
  status: z.literal("success"),
  data: z.object({
    resultType: z.literal("vector"),
    result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: z.tuple([z.number(), z.string()]) })),
  }),
});
const targetsSchema = z.object({
  status: z.literal("success"),
  data: z.object({
    activeTargets: z.array(
      z.object({
        labels: z.record(z.string(), z.string()),
        health: z.string(),
        lastError: z.string(),
        lastScrape: z.string(),
      }),
    ),
  }),
});
type Target = z.infer<typeof targetsSchema>["data"]["activeTargets"][number];

/** The value of a PromQL expression that yields at most one series, now; undefined when none. */
async function query(prometheus: Prometheus, promql: string): Promise<number | undefined> {
  const response = await fetch(`${prometheus.url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
  const { result } = querySchema.parse(await response.json()).data;
  if (result.length > 1) throw new Error(`${promql} yields ${result.length} series`);
  const value = result[0]?.value[1];
  return value === undefined ? undefined : Number(value);
}

/** The API's scrape target as Prometheus reports it: health, last error, last scrape's start. */
async function apiTarget(prometheus: Prometheus): Promise<Target | undefined> {
  const response = await fetch(`${prometheus.url}/api/v1/targets?state=active`);
  return targetsSchema.parse(await response.json()).data.activeTargets.find((t) => t.labels.job === API_SCRAPE_JOB);
}

/** Polls `promql` until `done` holds of its value, or time runs out; returns the last value read. */
async function until(
  prometheus: Prometheus,
  promql: string,
  done: (value: number | undefined) => boolean,
): Promise<number | undefined> {
  const deadline = Date.now() + SCRAPE_TIMEOUT_MS;
  for (;;) {
    const value = await query(prometheus, promql);
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Waits for a scrape that started at `since` or later, and returns the target as it left it. */
async function scrapedSince(prometheus: Prometheus, since: number): Promise<Target> {
  const deadline = Date.now() + SCRAPE_TIMEOUT_MS;
  for (;;) {
    const target = await apiTarget(prometheus);
    if (target && Date.parse(target.lastScrape) >= since) return target;
    if (Date.now() > deadline) throw new Error(`no scrape of the API since ${new Date(since).toISOString()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** How the last scrape went, for an assertion's message. */
async function lastScrape(prometheus: Prometheus): Promise<string> {
  const target = await apiTarget(prometheus);
  const outcome = target ? `${target.health}${target.lastError ? `, ${target.lastError}` : ""}` : "no target";
  return `the last scrape of ${prometheus.target}: ${outcome}`;
}

describe("the stack's Prometheus, scraping the API", () => {
  let scratch: string | undefined;
  const running: { stop(): Promise<void> }[] = [];
  let api: WranglerDev;
  let scraping: Prometheus;
  let refused: Prometheus;
  /** When the API first answered: scrapes from then on reached it. */
  let servedAt: number;

  beforeAll(async () => {
    const binary = findPrometheus();
    if (!binary) throw new Error(PROMETHEUS_INSTALL_HINT);
    const env = inject("stack");
    const token = env.METRICS_TOKEN;
    if (!token) throw new Error("the test stack gives no METRICS_TOKEN (stack/secrets.ts)");
    const dir = await mkdtemp(path.join(tmpdir(), "prometheus-test-"));
    scratch = dir;
    const port = await freePort();
    api = await startWranglerDev({
      configs: ["wrangler.toml"],
      env,
      envFile: path.join(dir, "api.env"),
      port,
      inspectorPort: await freePort(),
      persistTo: path.join(dir, "wrangler"),
      output: "ignore",
    });
    running.push(api);
    const prometheus = async (name: string, withToken: string) => {
      const started = await startPrometheus(binary, {
        port: await freePort(),
        dataDir: path.join(dir, name),
        target: `127.0.0.1:${port}`,
        token: withToken,
        scrapeIntervalSeconds: SCRAPE_INTERVAL_SECONDS,
        retention: "1h",
      });
      running.push(started);
      return started;
    };
    [scraping, refused] = await Promise.all([
      prometheus("scraping", token),
      prometheus("refused", `not-${token}`),
      waitUntilServing(`${api.url}/health`, api.process, 90_000),
    ]);
    servedAt = Date.now();
  }, 120_000);

  afterAll(async () => {
    await Promise.all(running.map((child) => child.stop()));
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it("scrapes /metrics with the stack's METRICS_TOKEN: up is 1", async () => {
    const up = await until(scraping, UP, (value) => value === 1);
    expect(up, await lastScrape(scraping)).toBe(1);
  });

  it("reads back the requests the API served, by route", async () => {
    for (let i = 0; i < REQUESTS; i++) {
      const response = await fetch(`${api.url}/health`);
      await response.arrayBuffer();
      expect(response.status).toBe(200);
    }
    const count = `sum(http_server_request_duration_seconds_count{job="${API_SCRAPE_JOB}",http_route="/health",http_request_method="GET",http_response_status_code="200"})`;
    const served = await until(scraping, count, (value) => (value ?? 0) >= REQUESTS);
    expect(served ?? 0, `${count} is ${served ?? "no series"}; ${await lastScrape(scraping)}`).toBeGreaterThanOrEqual(
      REQUESTS,
    );
  });

  it("is refused with another token: up is 0, the API answered 401", async () => {
    const target = await scrapedSince(refused, servedAt);
    expect(target.health).toBe("down");
    expect(target.lastError).toMatch(/HTTP status 401/);
    expect(await query(refused, UP)).toBe(0);
  });
});
