import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../workers/api/index.ts";
import { randomIp, signedIn } from "../auth-helpers.ts";
import { readyText } from "../document-helpers.ts";
import { type ExposedSample, parseExposition, sampleOf } from "../exposition.ts";
import { api, apiWith, eventually, expectProblem, outage, outageBindings, testEnv } from "../helpers.ts";

const TOKEN = testEnv.METRICS_TOKEN;
// Each scrape from its own address: /metrics is limited per address (the `probe` policy).
const scrapeHeaders = (extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${TOKEN}`,
  "cf-connecting-ip": randomIp(),
  ...extra,
});

/** One scrape of GET /metrics, as Prometheus makes it: its samples. */
async function scrape(): Promise<ExposedSample[]> {
  const response = await api("/metrics", { headers: scrapeHeaders() });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  return parseExposition(await response.text());
}

/** A sample's value in a fresh scrape, 0 when absent (a counter not yet incremented). */
const current = async (name: string, labels: Record<string, string>) => sampleOf(await scrape(), name, labels) ?? 0;

/** Waits until the sample has grown by at least `by` from `before` (the isolates flush in the background). */
const grown = (name: string, labels: Record<string, string>, before: number, by = 1) =>
  eventually(async () => {
    const now = await current(name, labels);
    return now >= before + by ? now : undefined;
  });

const HEALTH = { http_request_method: "GET", http_route: "/health", http_response_status_code: "200" };
const REQUESTS = "http_server_request_duration_seconds_count";

describe("GET /metrics", () => {
  it("refuses a scrape without the token, with another one or with an access token, as 401 problems", async () => {
    const { auth } = await signedIn();
    for (const headers of [{}, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Basic ${TOKEN}` }, auth]) {
      const response = await api("/metrics", { headers });
      expect((await expectProblem(response, 401)).type).toMatch(/unauthorized$/);
      expect(response.headers.get("www-authenticate")).toBe('Bearer realm="metrics"');
    }
  });

  it("does not exist where METRICS_TOKEN is not set", async () => {
    const response = await apiWith({ METRICS_TOKEN: "" } as Partial<Env>, "/metrics", { headers: scrapeHeaders() });
    expect((await expectProblem(response, 404)).type).toMatch(/not_found$/);
  });

  it("counts requests by method, route template and status code, with their response sizes", async () => {
    const before = await current(REQUESTS, HEALTH);
    const sizesBefore = await current("http_server_response_body_size_bytes_count", HEALTH);
    for (let i = 0; i < 3; i++) expect((await api("/health")).status).toBe(200);
    await grown(REQUESTS, HEALTH, before, 3);
    await grown("http_server_response_body_size_bytes_count", HEALTH, sizesBefore, 3);
    const samples = await scrape();
    // The histogram is whole: +Inf counts what _count counts.
    expect(sampleOf(samples, "http_server_request_duration_seconds_bucket", { ...HEALTH, le: "+Inf" })).toBe(
      sampleOf(samples, REQUESTS, HEALTH),
    );
  });

  it("keeps one series per route template: a thousand distinct ids and paths add none per id", async () => {
    const seriesCount = (samples: ExposedSample[]) => samples.filter((s) => s.name === REQUESTS).length;
    const before = await scrape();
    const ids = Array.from({ length: 500 }, () => crypto.randomUUID());
    const answers = await Promise.all([
      ...ids.map((id) => api(`/documents/${id}`)),
      ...ids.map((id) => api(`/no-such-resource/${id}`)),
    ]);
    expect(new Set(answers.map((r) => r.status))).toEqual(new Set([401, 404]));
    const unauthorized = {
      http_request_method: "GET",
      http_route: "/documents/{id}",
      http_response_status_code: "401",
    };
    const unmatched = { http_request_method: "GET", http_route: "", http_response_status_code: "404" };
    await grown(REQUESTS, unauthorized, sampleOf(before, REQUESTS, unauthorized) ?? 0, 500);
    const after = await grown(REQUESTS, unmatched, sampleOf(before, REQUESTS, unmatched) ?? 0, 500);
    expect(after).toBeGreaterThanOrEqual(500);
    const samples = await scrape();
    expect(samples.some((s) => ids.some((id) => Object.values(s.labels).some((v) => v.includes(id))))).toBe(false);
    // Other test files add their routes meanwhile; a thousand ids would add a thousand.
    expect(seriesCount(samples) - seriesCount(before)).toBeLessThan(50);
  });

  it("counts rate-limit refusals by policy", async () => {
    const policy = { name: "burst", limit: 1, windowSeconds: 60 };
    const bindings = { RATE_LIMIT_POLICIES: JSON.stringify({ api: [policy], auth: [policy] }) } as Partial<Env>;
    const labels = { policy: "api" };
    const before = await current("techcorp_rate_limit_refusals_total", labels);
    const ip = randomIp();
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await apiWith(bindings, "/openapi.json", { headers: { "cf-connecting-ip": ip } })).status);
    }
    expect(statuses).toEqual([200, 429, 429]);
    await grown("techcorp_rate_limit_refusals_total", labels, before, 2);
  });

  it("times calls to each dependency, of both workers, and counts the processor's queue messages", async () => {
    const { auth } = await signedIn();
    const sessions = { worker: "api", dependency: "durable_object", operation: "SESSIONS.authorize", outcome: "ok" };
    const postgres = { worker: "api", dependency: "postgres", operation: "http_transaction", outcome: "ok" };
    const upload = { worker: "api", dependency: "s3", operation: "PutObject", outcome: "ok" };
    const scan = { worker: "processor", dependency: "clamd", operation: "INSTREAM", outcome: "ok" };
    const read = { worker: "processor", dependency: "s3", operation: "GetObject", outcome: "ok" };
    const queued = { queue: "document-events", outcome: "acked" };
    const name = "techcorp_dependency_call_duration_seconds_count";
    const before = await scrape();
    const was = (labels: Record<string, string>, metric = name) => sampleOf(before, metric, labels) ?? 0;
    await readyText(auth);
    for (const labels of [sessions, postgres, scan, read]) await grown(name, labels, was(labels));
    await grown(name, upload, was(upload)).catch(async () => {
      // Small uploads may go up as one multipart part; either way S3 was written.
      const part = { ...upload, operation: "UploadPart" };
      await grown(name, part, was(part));
    });
    await grown("techcorp_queue_messages_total", queued, was(queued, "techcorp_queue_messages_total"));
    const age = { queue: "document-events" };
    await grown("techcorp_queue_message_age_seconds_count", age, was(age, "techcorp_queue_message_age_seconds_count"));
  });

  it("reads readiness, storage, documents, users and projects at the scrape", async () => {
    const { auth } = await signedIn();
    await readyText(auth);
    const samples = await scrape();
    for (const dependency of ["postgres", "s3", "queue"]) {
      expect(sampleOf(samples, "techcorp_dependency_up", { dependency })).toBe(1);
    }
    expect(sampleOf(samples, "techcorp_storage_used_bytes", { store: "postgres" })).toBeGreaterThan(0);
    expect(sampleOf(samples, "techcorp_storage_used_bytes", { store: "documents" })).toBeGreaterThanOrEqual(1040);
    expect(sampleOf(samples, "techcorp_storage_limit_bytes", { store: "postgres" })).toBe(10 * 1024 ** 3);
    expect(sampleOf(samples, "techcorp_documents", { status: "ready" })).toBeGreaterThanOrEqual(1);
    // Every status is a series, those without documents at 0, so none goes stale.
    expect(samples.filter((s) => s.name === "techcorp_documents")).toHaveLength(6);
    expect(sampleOf(samples, "techcorp_users")).toBeGreaterThanOrEqual(1);
    expect(sampleOf(samples, "techcorp_projects", { state: "active" })).toBeGreaterThanOrEqual(0);
  });

  it("publishes the API's heartbeat from its cron", async () => {
    const at = new Date(Date.now() + 3_600_000);
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: at, cron: "* * * * *" }), testEnv, ctx);
    await waitOnExecutionContext(ctx);
    await grown("techcorp_heartbeat_timestamp_seconds", { worker: "api" }, at.getTime() / 1000 - 1);
  });

  it("still answers while Postgres is down, without the gauges read there, and says Postgres is down", async () => {
    // The outage stack (never the shared one), whose Postgres this test stops.
    const bindings = outageBindings() as Partial<Env> & Record<string, string>;
    const scrapeOutage = async () => {
      const response = await apiWith(bindings, "/metrics", {
        headers: { authorization: `Bearer ${bindings.METRICS_TOKEN}`, "cf-connecting-ip": randomIp() },
      });
      expect(response.status).toBe(200);
      return parseExposition(await response.text());
    };
    expect(sampleOf(await scrapeOutage(), "techcorp_users")).toBeGreaterThanOrEqual(0);
    await outage("postgres", "stop");
    try {
      const samples = await scrapeOutage();
      expect(sampleOf(samples, "techcorp_dependency_up", { dependency: "postgres" })).toBe(0);
      expect(sampleOf(samples, "techcorp_users")).toBeUndefined();
      expect(sampleOf(samples, "techcorp_storage_used_bytes", { store: "postgres" })).toBeUndefined();
      expect(sampleOf(samples, "techcorp_storage_limit_bytes", { store: "postgres" })).toBe(10 * 1024 ** 3);
      // The counters are the aggregator's, not Postgres's: still there.
      expect(samples.some((sample) => sample.name === REQUESTS)).toBe(true);
    } finally {
      await outage("postgres", "start");
    }
  });

  it("answers OpenMetrics when the scraper asks for it", async () => {
    const response = await api("/metrics", {
      headers: scrapeHeaders({ accept: "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5" }),
    });
    expect(response.headers.get("content-type")).toBe("application/openmetrics-text; version=1.0.0; charset=utf-8");
    // As bytes: workerd warns of .text() on a content type it does not know as text.
    const body = new TextDecoder().decode(await response.arrayBuffer());
    expect(body).toContain("# TYPE http_server_request_duration_seconds histogram");
    expect(body.endsWith("# EOF\n")).toBe(true);
    expect(parseExposition(body).length).toBeGreaterThan(0);
  });
});
