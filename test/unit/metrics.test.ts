import { describe, expect, it } from "vitest";
import {
  DEPENDENCY_CALL_DURATION,
  HEARTBEAT,
  HTTP_SERVER_REQUEST_DURATION,
  RATE_LIMIT_REFUSALS,
} from "../../src/pkg/metrics/catalog.ts";
import { formatExposition, negotiateFormat } from "../../src/pkg/metrics/exposition.ts";
import { flushMetrics, type MetricsSink, scheduleFlush } from "../../src/pkg/metrics/flush.ts";
import { type MetricsBatch, MetricsBuffer, type Sample, timeCall } from "../../src/pkg/metrics/recorder.ts";
import { parseExposition, sampleOf } from "../exposition.ts";

const GET_HEALTH = { http_request_method: "GET", http_route: "/health", http_response_status_code: 200 };

/** A sink that keeps what it is sent, or refuses it. */
function sinkOf(batches: MetricsBatch[], refuse = false): MetricsSink {
  return {
    record: async (batch) => {
      if (refuse) throw new Error("shard unreachable");
      batches.push(batch);
    },
  };
}

const sampleValue = (samples: Sample[], sample: string, labels: Record<string, string>) =>
  samples.find((s) => s.sample === sample && s.labels === JSON.stringify(Object.entries(labels)))?.value;

describe("MetricsBuffer", () => {
  it("records a histogram observation in every bucket at or above it, and in sum and count", () => {
    const buffer = new MetricsBuffer();
    buffer.observe(HTTP_SERVER_REQUEST_DURATION, GET_HEALTH, 0.03);
    buffer.observe(HTTP_SERVER_REQUEST_DURATION, GET_HEALTH, 0.2);
    const batch = buffer.drain();
    if (!batch) throw new Error("nothing recorded");
    const labels = { http_request_method: "GET", http_route: "/health", http_response_status_code: "200" };
    const bucket = (le: string) =>
      sampleValue(batch.add, "http_server_request_duration_seconds_bucket", { ...labels, le });
    expect(bucket("0.025")).toBe(0);
    expect(bucket("0.05")).toBe(1);
    expect(bucket("0.1")).toBe(1);
    expect(bucket("0.25")).toBe(2);
    expect(bucket("+Inf")).toBe(2);
    expect(sampleValue(batch.add, "http_server_request_duration_seconds_count", labels)).toBe(2);
    expect(sampleValue(batch.add, "http_server_request_duration_seconds_sum", labels)).toBeCloseTo(0.23);
    // Every bound of the catalog, and +Inf, for the label set.
    expect(batch.add.filter((s) => s.sample.endsWith("_bucket"))).toHaveLength(
      (HTTP_SERVER_REQUEST_DURATION.buckets?.length ?? 0) + 1,
    );
  });

  it("hands everything over once: a drain after a drain is empty", () => {
    const buffer = new MetricsBuffer();
    buffer.add(RATE_LIMIT_REFUSALS, { policy: "auth" });
    buffer.add(RATE_LIMIT_REFUSALS, { policy: "auth" }, 2);
    buffer.set(HEARTBEAT, { worker: "api" }, 100);
    buffer.set(HEARTBEAT, { worker: "api" }, 160);
    const batch = buffer.drain();
    expect(batch?.add).toEqual([
      { family: RATE_LIMIT_REFUSALS.name, sample: RATE_LIMIT_REFUSALS.name, labels: '[["policy","auth"]]', value: 3 },
    ]);
    expect(batch?.set.map((s) => s.value)).toEqual([160]);
    expect(buffer.drain()).toBeUndefined();
  });

  it("takes back a failed batch: deltas add to newer counts, a newer gauge value wins", () => {
    const buffer = new MetricsBuffer();
    buffer.add(RATE_LIMIT_REFUSALS, { policy: "api" }, 5);
    buffer.set(HEARTBEAT, { worker: "api" }, 100);
    const failed = buffer.drain();
    if (!failed) throw new Error("nothing recorded");
    buffer.add(RATE_LIMIT_REFUSALS, { policy: "api" }, 2);
    buffer.set(HEARTBEAT, { worker: "api" }, 200);
    buffer.restore(failed);
    const batch = buffer.drain();
    // The shard adds up every delta it is sent, whether one sample or several name the series.
    expect((batch?.add ?? []).reduce((total, sample) => total + sample.value, 0)).toBe(7);
    expect(batch?.set.map((sample) => sample.value)).toEqual([200]);
  });

  it("records nothing when disabled (METRICS=off)", () => {
    const buffer = new MetricsBuffer();
    buffer.enabled = false;
    buffer.add(RATE_LIMIT_REFUSALS, { policy: "api" });
    buffer.observe(HTTP_SERVER_REQUEST_DURATION, GET_HEALTH, 1);
    expect(buffer.pending).toBe(false);
  });

  it("times a dependency call by outcome, and passes its result or error on", async () => {
    const buffer = new MetricsBuffer();
    buffer.worker = "processor";
    await expect(timeCall("s3", "GetObject", async () => "body", buffer)).resolves.toBe("body");
    await expect(
      timeCall("s3", "GetObject", async () => Promise.reject(new Error("NoSuchKey")), buffer),
    ).rejects.toThrow("NoSuchKey");
    const batch = buffer.drain();
    const count = (outcome: string) =>
      sampleValue(batch?.add ?? [], `${DEPENDENCY_CALL_DURATION.name}_count`, {
        worker: "processor",
        dependency: "s3",
        operation: "GetObject",
        outcome,
      });
    expect(count("ok")).toBe(1);
    expect(count("error")).toBe(1);
  });
});

describe("flushing", () => {
  it("sends the buffer to the sink, and keeps a batch the sink refused for the next flush", async () => {
    const buffer = new MetricsBuffer();
    const sent: MetricsBatch[] = [];
    buffer.add(RATE_LIMIT_REFUSALS, { policy: "api" });
    expect(await flushMetrics(buffer, sinkOf(sent, true))).toBe(false);
    buffer.add(RATE_LIMIT_REFUSALS, { policy: "api" });
    expect(await flushMetrics(buffer, sinkOf(sent))).toBe(true);
    expect(sent).toHaveLength(1);
    expect((sent[0]?.add ?? []).reduce((total, sample) => total + sample.value, 0)).toBe(2);
    expect(buffer.pending).toBe(false);
  });

  it("schedules one flush per interval whatever the number of requests, and none when nothing is pending", async () => {
    const buffer = new MetricsBuffer();
    const sent: MetricsBatch[] = [];
    const kept: Promise<unknown>[] = [];
    const options = { sink: () => sinkOf(sent), intervalMs: 20, waitUntil: (p: Promise<unknown>) => kept.push(p) };
    scheduleFlush(buffer, options);
    expect(kept).toHaveLength(0);
    for (let i = 0; i < 10; i++) {
      buffer.add(RATE_LIMIT_REFUSALS, { policy: "api" });
      scheduleFlush(buffer, options);
    }
    expect(kept).toHaveLength(1);
    await Promise.all(kept);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.add[0]?.value).toBe(10);
    // Scheduled again once the first one has gone.
    buffer.add(RATE_LIMIT_REFUSALS, { policy: "api" });
    scheduleFlush(buffer, options);
    expect(kept).toHaveLength(2);
  });
});

describe("the exposition", () => {
  function recorded(): Sample[] {
    const buffer = new MetricsBuffer();
    buffer.observe(HTTP_SERVER_REQUEST_DURATION, GET_HEALTH, 0.004);
    buffer.observe(HTTP_SERVER_REQUEST_DURATION, { ...GET_HEALTH, http_route: "/documents/{id}" }, 3);
    buffer.add(RATE_LIMIT_REFUSALS, { policy: 'say "hi"\\n' });
    buffer.set(HEARTBEAT, { worker: "api" }, 1_700_000_000);
    const batch = buffer.drain();
    return [...(batch?.add ?? []), ...(batch?.set ?? [])].reverse();
  }

  it("is the Prometheus text format a parser reads back: types, help, escaped labels, histograms whole", async () => {
    const { body, contentType } = await formatExposition(recorded(), "prometheus");
    expect(contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
    const samples = parseExposition(body);
    expect(body).toContain("# TYPE http_server_request_duration_seconds histogram");
    const documents = { http_route: "/documents/{id}" };
    expect(sampleOf(samples, "http_server_request_duration_seconds_count", documents)).toBe(1);
    expect(sampleOf(samples, "http_server_request_duration_seconds_bucket", { ...documents, le: "2.5" })).toBe(0);
    expect(sampleOf(samples, "http_server_request_duration_seconds_bucket", { ...documents, le: "5" })).toBe(1);
    expect(sampleOf(samples, "http_server_request_duration_seconds_sum", documents)).toBe(3);
    expect(sampleOf(samples, RATE_LIMIT_REFUSALS.name, { policy: 'say "hi"\\n' })).toBe(1);
    expect(sampleOf(samples, HEARTBEAT.name, { worker: "api" })).toBe(1_700_000_000);
    expect(body).toContain("# HELP techcorp_heartbeat_timestamp_seconds Unix time");
  });

  it("lists buckets by bound before sum and count, whatever order the samples came in", async () => {
    const { body } = await formatExposition(recorded(), "prometheus");
    const lines = body.split("\n").filter((line) => line.includes('http_route="/health"'));
    const bounds = lines.filter((l) => l.includes("_bucket")).map((l) => /le="([^"]+)"/.exec(l)?.[1]);
    expect(bounds).toEqual([...(HTTP_SERVER_REQUEST_DURATION.buckets ?? []).map(String), "+Inf"]);
    expect(lines.at(-2)).toContain("_sum");
    expect(lines.at(-1)).toContain("_count");
  });

  it("is OpenMetrics when asked: counters' samples end in _total under a family without it, and # EOF ends it", async () => {
    expect(negotiateFormat("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")).toBe(
      "openmetrics",
    );
    expect(negotiateFormat("text/plain")).toBe("prometheus");
    expect(negotiateFormat(undefined)).toBe("prometheus");
    // Prometheus's own header, and quality values: q=0 refuses, a higher q for text/plain wins.
    expect(
      negotiateFormat(
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
      ),
    ).toBe("openmetrics");
    expect(negotiateFormat("application/openmetrics-text;q=0")).toBe("prometheus");
    expect(negotiateFormat("text/plain;q=0.5, application/openmetrics-text;q=0.1")).toBe("prometheus");
    const { body, contentType } = await formatExposition(recorded(), "openmetrics");
    expect(contentType).toBe("application/openmetrics-text; version=1.0.0; charset=utf-8");
    expect(body).toContain("# TYPE techcorp_rate_limit_refusals counter");
    expect(body).toMatch(/^techcorp_rate_limit_refusals_total\{policy="say \\"hi\\"\\\\n"\} 1$/m);
    expect(body.endsWith("# EOF\n")).toBe(true);
  });

  it("leaves out samples of families the catalog does not know", async () => {
    const stray: Sample = {
      family: "techcorp_renamed_total",
      sample: "techcorp_renamed_total",
      labels: "[]",
      value: 1,
    };
    const { body } = await formatExposition([stray], "prometheus");
    expect(body).not.toContain("techcorp_renamed_total");
  });
});
