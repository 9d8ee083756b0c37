import { appendFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { context, type HrTime, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { CompressionAlgorithm } from "@opentelemetry/otlp-exporter-base";
import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import type { ReceivedSpan } from "../../stack/otlp-json.ts";
import {
  DEFAULT_MAX_BODY_BYTES,
  type OtlpReceiver,
  startOtlpReceiver,
  type TraceSummary,
} from "../../stack/otlp-receiver.ts";

/** The server span's attributes, one of each OTLP value type: sent by the SDK, read back the same. */
const SERVER_ATTRIBUTES = {
  "http.request.method": "GET",
  "http.route": "/documents/{id}",
  "http.response.status_code": 500,
  "server.duration.ratio": 0.25,
  "user.authenticated": true,
  "document.tags": ["work", "draft"],
  "document.sizes": [1, 2.5],
  "feature.flags": [true, false],
};

// The receiver (stack/otlp-receiver.ts) fed by the production OpenTelemetry JS client, unmodified:
// spans made by the SDK (@opentelemetry/sdk-trace), sent by OTLPTraceExporter over OTLP/HTTP in its
// JSON encoding, read back through the receiver's API and pages.

/** ExportResultCode.SUCCESS of @opentelemetry/core. */
const EXPORT_SUCCESS = 0;

/** Whole seconds a minute ago: spans get exact nanosecond times, recent enough to list first. */
const BASE_SECONDS = Math.floor(Date.now() / 1000) - 60;
const at = (seconds: number, nanos: number): HrTime => [BASE_SECONDS + seconds, nanos];
const nanosAt = (seconds: number, nanos: number) =>
  (BigInt(BASE_SECONDS + seconds) * 1_000_000_000n + BigInt(nanos)).toString();

/** A tracer whose finished spans are collected in memory, to be exported by hand. */
function sdk(service: string) {
  const finished = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": service, "service.version": "1.2.3" }),
    spanProcessors: [new SimpleSpanProcessor({ exporter: finished })],
  });
  return { tracer: provider.getTracer("techcorp-test", "0.1.0"), spans: () => finished.getFinishedSpans() };
}

/** A request span and a database call under it, an error with an event, at fixed times; `offset` shifts them by seconds. */
function requestTrace(service: string, options: { offset?: number; name?: string } = {}) {
  const { tracer, spans } = sdk(service);
  const offset = options.offset ?? 0;
  const parent = tracer.startSpan(options.name ?? "GET /documents/{id}", {
    kind: SpanKind.SERVER,
    startTime: at(offset, 100_000_000),
    attributes: SERVER_ATTRIBUTES,
  });
  const linked = tracer.startSpan("queue message", { startTime: at(offset, 0) });
  linked.end(at(offset, 1_000));
  const child = tracer.startSpan(
    "SELECT documents",
    {
      kind: SpanKind.CLIENT,
      startTime: at(offset, 120_000_000),
      attributes: { "db.system.name": "postgresql", "db.response.returned_rows": 0 },
      links: [{ context: linked.spanContext(), attributes: { "link.reason": "caused by" } }],
    },
    trace.setSpan(context.active(), parent),
  );
  child.addEvent("exception", { "exception.type": "NotFound", "exception.escaped": false }, at(offset, 150_000_000));
  child.setStatus({ code: SpanStatusCode.ERROR, message: "no such document" });
  child.end(at(offset, 220_500_000));
  parent.end(at(offset, 350_000_000));
  const all = spans();
  return {
    traceId: parent.spanContext().traceId,
    parentId: parent.spanContext().spanId,
    childId: child.spanContext().spanId,
    linked: linked.spanContext(),
    // The linked span is a trace of its own.
    spans: all.filter((span) => span.spanContext().traceId === parent.spanContext().traceId),
    all,
  };
}

/** Sends the spans with the production exporter and returns its result (`code` 0 is success). */
async function exportSpans(
  endpoint: string,
  spans: ReadableSpan[],
  compression = CompressionAlgorithm.NONE,
): Promise<{ code: number; error?: Error }> {
  const exporter = new OTLPTraceExporter({ url: endpoint, compression });
  try {
    return await new Promise((resolve) => exporter.export(spans, resolve));
  } finally {
    await exporter.shutdown();
  }
}

async function getTrace(
  receiver: { url: string },
  traceId: string,
): Promise<{ traceId: string; spans: ReceivedSpan[] }> {
  const response = await fetch(`${receiver.url}/api/traces/${traceId}`);
  expect(response.status).toBe(200);
  return (await response.json()) as { traceId: string; spans: ReceivedSpan[] };
}

async function listTraces(receiver: OtlpReceiver, query = ""): Promise<TraceSummary[]> {
  const response = await fetch(`${receiver.url}/api/traces${query}`);
  expect(response.status).toBe(200);
  return (await response.json()) as TraceSummary[];
}

const post = (receiver: OtlpReceiver, body: NonNullable<RequestInit["body"]>, headers: Record<string, string>) =>
  fetch(receiver.tracesEndpoint, { method: "POST", body, headers });

/** The OTLP/JSON request the production exporter would send for these spans. */
const jsonRequest = (spans: ReadableSpan[]): Buffer => Buffer.from(JsonTraceSerializer.serializeRequest(spans) ?? []);

describe("the OTLP receiver, fed by the OpenTelemetry JS exporter", () => {
  let receiver: OtlpReceiver;
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), "otlp-receiver-test-"));
    receiver = await startOtlpReceiver({ port: 0 });
  });

  afterAll(async () => {
    await receiver.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it("keeps a trace as sent: the tree, names, kinds, attributes, status, events, links and timings", async () => {
    const sent = requestTrace("techcorp-api");
    expect(await exportSpans(receiver.tracesEndpoint, sent.all)).toEqual({ code: EXPORT_SUCCESS });

    const { traceId, spans } = await getTrace(receiver, sent.traceId);
    expect(traceId).toBe(sent.traceId);
    expect(spans.map((span) => span.name)).toEqual(["GET /documents/{id}", "SELECT documents"]);
    const [parent, child] = spans;
    expect(parent).toEqual({
      traceId: sent.traceId,
      spanId: sent.parentId,
      parentSpanId: null,
      name: "GET /documents/{id}",
      kind: "server",
      startTimeUnixNano: nanosAt(0, 100_000_000),
      endTimeUnixNano: nanosAt(0, 350_000_000),
      durationMs: 250,
      status: { code: "unset", message: "" },
      attributes: SERVER_ATTRIBUTES,
      events: [],
      links: [],
      service: "techcorp-api",
      resource: expect.objectContaining({ "service.name": "techcorp-api", "service.version": "1.2.3" }),
      scope: { name: "techcorp-test", version: "0.1.0" },
    });
    expect(child).toMatchObject({
      spanId: sent.childId,
      parentSpanId: sent.parentId,
      kind: "client",
      startTimeUnixNano: nanosAt(0, 120_000_000),
      endTimeUnixNano: nanosAt(0, 220_500_000),
      durationMs: 100.5,
      status: { code: "error", message: "no such document" },
      attributes: { "db.system.name": "postgresql", "db.response.returned_rows": 0 },
      events: [
        {
          name: "exception",
          timeUnixNano: nanosAt(0, 150_000_000),
          attributes: { "exception.type": "NotFound", "exception.escaped": false },
        },
      ],
      links: [
        {
          traceId: sent.linked.traceId,
          spanId: sent.linked.spanId,
          traceState: "",
          attributes: { "link.reason": "caused by" },
        },
      ],
      service: "techcorp-api",
    });

    const [summary] = await listTraces(receiver, `?service=techcorp-api&limit=1`);
    expect(summary).toEqual({
      traceId: sent.traceId,
      rootName: "GET /documents/{id}",
      rootService: "techcorp-api",
      services: ["techcorp-api"],
      spanCount: 2,
      errorCount: 1,
      startTimeUnixNano: nanosAt(0, 100_000_000),
      start: new Date(BASE_SECONDS * 1000 + 100).toISOString(),
      durationMs: 250,
    });
  });

  it("lists traces newest first, by service, up to the limit; a trace it does not have is 404", async () => {
    const older = requestTrace("techcorp-processor", { offset: 5 });
    const newer = requestTrace("techcorp-processor", { offset: 10 });
    // Sent newest first: the order comes from the start times, not from arrival.
    expect((await exportSpans(receiver.tracesEndpoint, newer.spans)).code).toBe(EXPORT_SUCCESS);
    expect((await exportSpans(receiver.tracesEndpoint, older.spans)).code).toBe(EXPORT_SUCCESS);

    const processor = await listTraces(receiver, "?service=techcorp-processor");
    expect(processor.map((summary) => summary.traceId)).toEqual([newer.traceId, older.traceId]);
    expect(await listTraces(receiver, "?service=techcorp-processor&limit=1")).toHaveLength(1);
    expect(await listTraces(receiver, "?service=nobody")).toEqual([]);
    expect((await fetch(`${receiver.url}/api/traces?limit=0`)).status).toBe(400);

    const missing = await fetch(`${receiver.url}/api/traces/${"f".repeat(32)}`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: "no such trace" });
  });

  it("reads gzip bodies: the exporter's own compression, and one compressed by hand", async () => {
    const compressed = requestTrace("techcorp-api");
    expect(await exportSpans(receiver.tracesEndpoint, compressed.spans, CompressionAlgorithm.GZIP)).toEqual({
      code: EXPORT_SUCCESS,
    });
    expect((await getTrace(receiver, compressed.traceId)).spans).toHaveLength(2);

    const byHand = requestTrace("techcorp-api");
    const response = await post(receiver, gzipSync(jsonRequest(byHand.spans)), {
      "content-type": "application/json",
      "content-encoding": "gzip",
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.json()).toEqual({});
    expect((await getTrace(receiver, byHand.traceId)).spans).toHaveLength(2);
  });

  it("refuses the protobuf encoding with 415 and a Status saying only JSON is supported", async () => {
    const sent = requestTrace("techcorp-api");
    const protobuf = ProtobufTraceSerializer.serializeRequest(sent.spans) ?? new Uint8Array();
    const response = await post(receiver, Buffer.from(protobuf), { "content-type": "application/x-protobuf" });
    expect(response.status).toBe(415);
    expect(response.headers.get("content-type")).toBe("application/x-protobuf");
    // google.rpc.Status in protobuf: field 1 (code) a varint, field 2 (message) a length-prefixed string.
    const status = Buffer.from(await response.arrayBuffer());
    expect([status[0], status[1], status[2]]).toEqual([0x08, 12, 0x12]);
    expect(status.subarray(4).toString("utf8")).toMatch(/only the JSON encoding of OTLP\/HTTP is supported/);
    expect((await fetch(`${receiver.url}/api/traces/${sent.traceId}`)).status).toBe(404);

    const text = await post(receiver, "hello", { "content-type": "text/plain" });
    expect(text.status).toBe(415);
    expect(await text.json()).toEqual({ code: 12, message: expect.stringMatching(/only the JSON encoding/) });
    const brotli = await post(receiver, "{}", { "content-type": "application/json", "content-encoding": "br" });
    expect(brotli.status).toBe(415);
  });

  it("answers 400 with a Status for a body that is no ExportTraceServiceRequest", async () => {
    const json = { "content-type": "application/json" };
    for (const body of ['{"resourceSpans": [', "[]", '"spans"', '{"resourceSpans": {}}', '{"resourceSpans": [1]}']) {
      const response = await post(receiver, body, json);
      expect(response.status, body).toBe(400);
      expect(await response.json(), body).toEqual({ code: 3, message: expect.any(String) });
    }
    const notUtf8 = await post(receiver, Buffer.from([0x7b, 0xff, 0x7d]), json);
    expect(notUtf8.status).toBe(400);
    const notGzip = await post(receiver, "not gzip", { ...json, "content-encoding": "gzip" });
    expect(notGzip.status).toBe(400);
    // An empty request is a request: nothing to keep.
    expect((await post(receiver, "{}", json)).status).toBe(200);
  });

  it("reads what other clients may send: int64 as JSON numbers, enum names, upper-case hex, nested values", async () => {
    // Written by hand as a Go or Python exporter might: OTLP/JSON allows 64-bit integers as numbers.
    const traceId = "0AF7651916CD43DD8448EB211C80319C";
    const body = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"hand-made"}}]},
      "scopeSpans":[{"scope":{"name":"manual"},"spans":[{"traceId":"${traceId}","spanId":"B7AD6B7169203331",
      "name":"numbers","kind":"SPAN_KIND_CONSUMER","startTimeUnixNano":1700000000000000001,
      "endTimeUnixNano":1700000000250000003,"status":{"code":"STATUS_CODE_OK"},"unknownField":true,
      "attributes":[{"key":"big","value":{"intValue":9223372036854775807}},{"key":"small","value":{"intValue":"-7"}},
      {"key":"bytes","value":{"bytesValue":"AQID"}},{"key":"nan","value":{"doubleValue":"NaN"}},
      {"key":"empty","value":{}},{"key":"__proto__","value":{"stringValue":"plain key"}},
      {"key":"map","value":{"kvlistValue":{"values":[{"key":"list","value":{"arrayValue":{"values":[{"intValue":1},{"stringValue":"two"}]}}}]}}}]}]}]}]}`;
    const response = await post(receiver, body, { "content-type": "application/json; charset=utf-8" });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({});
    const [span] = (await getTrace(receiver, traceId.toLowerCase())).spans;
    expect(span).toMatchObject({
      traceId: traceId.toLowerCase(),
      spanId: "b7ad6b7169203331",
      kind: "consumer",
      startTimeUnixNano: "1700000000000000001",
      endTimeUnixNano: "1700000000250000003",
      durationMs: 250.000002,
      status: { code: "ok", message: "" },
      service: "hand-made",
      scope: { name: "manual", version: "" },
    });
    expect(span?.attributes).toEqual(
      JSON.parse(
        '{"big":"9223372036854775807","small":-7,"bytes":"AQID","nan":"NaN","empty":null,"__proto__":"plain key","map":{"list":[1,"two"]}}',
      ),
    );
  });

  it("keeps the spans it can read and reports the others as a partial success", async () => {
    const sent = requestTrace("techcorp-api");
    const request = JSON.parse(jsonRequest(sent.spans).toString("utf8")) as {
      resourceSpans: { scopeSpans: { spans: { traceId: string; name: string }[] }[] }[];
    };
    const child = request.resourceSpans[0]?.scopeSpans[0]?.spans.find((span) => span.name === "SELECT documents");
    if (!child) throw new Error("the serializer wrote no SELECT span");
    // Base64, as protobuf's JSON mapping (not OTLP's) writes bytes.
    child.traceId = Buffer.from(sent.traceId, "hex").toString("base64");
    const response = await post(receiver, JSON.stringify(request), { "content-type": "application/json" });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      partialSuccess: {
        rejectedSpans: 1,
        errorMessage: expect.stringMatching(/spans\[\d\]: traceId must be 32 hex digits/),
      },
    });
    expect((await getTrace(receiver, sent.traceId)).spans.map((span) => span.name)).toEqual(["GET /documents/{id}"]);
  });

  it("answers 413 for a body over the limit, as sent or once gunzipped", async () => {
    const json = { "content-type": "application/json" };
    const tooLarge = await post(receiver, Buffer.alloc(DEFAULT_MAX_BODY_BYTES + 1, 0x20), json);
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toEqual({ code: 8, message: `the body is over ${DEFAULT_MAX_BODY_BYTES} bytes` });

    const bomb = gzipSync(Buffer.alloc(DEFAULT_MAX_BODY_BYTES + 1, 0x20));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const inflated = await post(receiver, bomb, { ...json, "content-encoding": "gzip" });
    expect(inflated.status).toBe(413);
    // The limit itself is accepted: spaces around an empty request.
    const atLimit = Buffer.alloc(DEFAULT_MAX_BODY_BYTES, 0x20);
    atLimit.write("{}");
    expect((await post(receiver, atLimit, json)).status).toBe(200);
  });

  it("escapes every value on its pages: a span named <script> is text", async () => {
    const sent = requestTrace("<b>service</b>", { name: "<script>alert(1)</script>" });
    expect((await exportSpans(receiver.tracesEndpoint, sent.spans)).code).toBe(EXPORT_SUCCESS);
    for (const page of ["/", `/traces/${sent.traceId}`, `/?service=${encodeURIComponent("<b>service</b>")}`]) {
      const response = await fetch(`${receiver.url}${page}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(response.headers.get("content-security-policy")).toMatch(/default-src 'none'/);
      const html = await response.text();
      expect(html, page).not.toContain("<script>");
      expect(html, page).not.toContain("<b>service");
      expect(html, page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    }
    const tree = await (await fetch(`${receiver.url}/traces/${sent.traceId}`)).text();
    // Indented by parent: the child's cell is padded one level more than its parent's.
    expect(tree).toMatch(
      /padding-left:3px"><span>&lt;script&gt;[\s\S]*padding-left:21px"><span style="color:#b00">SELECT documents/,
    );
    expect(tree).toContain("http.route=/documents/{id}");
    expect(tree).toContain("error: no such document");
  });

  describe("with a file", () => {
    const started: OtlpReceiver[] = [];
    const start = async (options: { file: string; maxSpans?: number }) => {
      const next = await startOtlpReceiver({ port: 0, ...options });
      started.push(next);
      return next;
    };
    afterEach(async () => {
      await Promise.all(started.splice(0).map((running) => running.close()));
    });

    it("appends what it keeps as JSON lines and loads them after a restart", async () => {
      const file = path.join(scratch, "restart", "traces.jsonl");
      const first = await start({ file });
      const sent = requestTrace("techcorp-api");
      expect((await exportSpans(first.tracesEndpoint, sent.spans)).code).toBe(EXPORT_SUCCESS);
      const kept = await getTrace(first, sent.traceId);
      await first.close();

      const lines = (await readFile(file, "utf8")).trimEnd().split("\n");
      // One line a span, in the order they arrived (the SDK ends, so sends, the child first).
      expect(lines.map((line) => (JSON.parse(line) as ReceivedSpan).spanId)).toEqual([sent.childId, sent.parentId]);
      // A line cut short, as by a crash in the middle of a write.
      await appendFile(file, '{"traceId":"ab');

      const second = await start({ file });
      expect(await getTrace(second, sent.traceId)).toEqual(kept);
      const more = requestTrace("techcorp-processor");
      expect((await exportSpans(second.tracesEndpoint, more.spans)).code).toBe(EXPORT_SUCCESS);
      await second.close();

      const third = await start({ file });
      expect(await getTrace(third, sent.traceId)).toEqual(kept);
      expect((await getTrace(third, more.traceId)).spans).toHaveLength(2);
    });

    it("keeps the newest maxSpans spans, in memory and across a restart", async () => {
      const file = path.join(scratch, "bounded", "traces.jsonl");
      const bounded = await start({ file, maxSpans: 3 });
      const traces = [requestTrace("techcorp-api"), requestTrace("techcorp-api"), requestTrace("techcorp-api")];
      for (const sent of traces) expect((await exportSpans(bounded.tracesEndpoint, sent.spans)).code).toBe(0);
      // Six spans sent, three kept: the last trace whole and the span of the second that arrived last.
      expect((await fetch(`${bounded.url}/api/traces/${traces[0]?.traceId}`)).status).toBe(404);
      expect((await getTrace(bounded, traces[1]?.traceId ?? "")).spans).toHaveLength(1);
      expect((await getTrace(bounded, traces[2]?.traceId ?? "")).spans).toHaveLength(2);
      await bounded.close();

      const restarted = await start({ file, maxSpans: 3 });
      expect((await listTraces(restarted)).map((summary) => summary.spanCount).sort()).toEqual([1, 2]);
      expect((await readFile(file, "utf8")).trimEnd().split("\n")).toHaveLength(3);
    });
  });
});

describe("the test stack's receiver", () => {
  it("is what both workers' OTEL_EXPORTER_OTLP_TRACES_ENDPOINT names, sampling every trace", async () => {
    const env = inject("stack");
    const base = env.OTLP_RECEIVER_URL ?? "";
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).toBe(`${base}/v1/traces`);
    expect(env.OTEL_TRACES_SAMPLER_ARG).toBe("1");

    const sent = requestTrace("techcorp-api");
    expect(await exportSpans(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? "", sent.spans)).toEqual({
      code: EXPORT_SUCCESS,
    });
    expect((await getTrace({ url: base }, sent.traceId)).spans).toHaveLength(2);
  });
});
