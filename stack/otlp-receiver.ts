import { createReadStream } from "node:fs";
import { appendFile, mkdir, open, rename, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import zlib from "node:zlib";
import { escapeUTF8 } from "entities";
import { readBoundedBody } from "./bounded-body.ts";
import {
  type AttributeValue,
  type DecodedRequest,
  decodeTraceRequest,
  InvalidRequestError,
  type ReceivedSpan,
} from "./otlp-json.ts";

/** OTLP/HTTP's path for traces (the spec's default; `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` names it in full). */
export const OTLP_TRACES_PATH = "/v1/traces";
/** Spans kept by default, the oldest dropped first. */
export const DEFAULT_MAX_SPANS = 100_000;
/** Largest request body by default, in bytes, both as sent and once gunzipped. */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Traces `GET /api/traces` lists by default, and at most. */
const DEFAULT_LIST = 20;
const MAX_LIST = 1000;
/** Traces on the HTML list. */
const PAGE_LIST = 100;
/** Attributes shown per span on the HTML tree, and characters per value. */
const PAGE_ATTRIBUTES = 12;
const PAGE_VALUE_CHARS = 160;

/** `google.rpc.Code`s of the `Status` a refusal carries (OTLP/HTTP: 4xx and 5xx bodies are a `Status`). */
const RPC = { invalidArgument: 3, resourceExhausted: 8, unimplemented: 12, internal: 13 } as const;

export interface OtlpReceiverOptions {
  /** Loopback port to listen on; 0 for any free one. */
  port: number;
  /**
   * A JSON-lines file (one {@link ReceivedSpan} a line): loaded when the receiver starts, appended to
   * before each export is answered. Without one the spans live in memory only.
   */
  file?: string;
  /** Spans kept, the oldest dropped first; {@link DEFAULT_MAX_SPANS} by default. */
  maxSpans?: number;
  /** Bytes of a request body, as sent and once gunzipped; {@link DEFAULT_MAX_BODY_BYTES} by default (more: 413). */
  maxBodyBytes?: number;
}

export interface OtlpReceiver {
  /** Base URL, `http://127.0.0.1:<port>`: the HTML pages and `/api/traces`. */
  readonly url: string;
  /** `url` + `/v1/traces`: what `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` names. */
  readonly tracesEndpoint: string;
  /** The JSON-lines file the spans are kept in, if any. */
  readonly file: string | undefined;
  /** Stops listening once pending file writes are done. */
  close(): Promise<void>;
}

/** One trace in `GET /api/traces`. */
export interface TraceSummary {
  traceId: string;
  /** The root span's name: the earliest span whose parent is not in the trace (the root itself may not have arrived yet). */
  rootName: string;
  rootService: string;
  /** Services of its spans, in the order their first span started. */
  services: string[];
  spanCount: number;
  /** Spans whose status is `error`. */
  errorCount: number;
  /** Its earliest span's start: nanoseconds since the epoch as a decimal string, and as ISO 8601 (ms). */
  startTimeUnixNano: string;
  start: string;
  /** Earliest start to latest end, in ms. */
  durationMs: number;
}

/** A kept span with its times as bigints (nanoseconds), for sorting. */
interface Kept {
  span: ReceivedSpan;
  start: bigint;
  end: bigint;
}

/**
 * A stand-in for a tracing backend's OTLP/HTTP endpoint (what Jaeger or an OpenTelemetry Collector
 * offers on 4318), for the local stack: it keeps every span it receives, shows them, and needs no
 * OpenTelemetry package (it reads the JSON encoding itself, stack/otlp-json.ts).
 *
 * - `POST /v1/traces`: an `ExportTraceServiceRequest` in OTLP/JSON (`Content-Type: application/json`,
 *   optionally `Content-Encoding: gzip`). 200 with an `ExportTraceServiceResponse`: `{}`, or
 *   `{"partialSuccess": {"rejectedSpans": n, "errorMessage": "…"}}` when some spans could not be
 *   read (the rest are kept). Refusals carry a `google.rpc.Status` (`{"code", "message"}`): 400 for
 *   a body that is not a request, 413 over `maxBodyBytes`, 415 for any other content type (only the
 *   JSON encoding is supported; a protobuf request gets its `Status` in protobuf) or encoding.
 * - `GET /api/traces?service=<name>&limit=<1–1000, default 20>`: {@link TraceSummary}[], newest start first.
 * - `GET /api/traces/{traceId}`: `{ traceId, spans: ReceivedSpan[] }` in start order; 404 `{ error }`.
 * - `DELETE /api/traces`: forgets every span (and empties the file); 204.
 * - `GET /` (`?service=` filters) and `GET /traces/{traceId}`: HTML, the list and one trace's span tree.
 */
export async function startOtlpReceiver(options: OtlpReceiverOptions): Promise<OtlpReceiver> {
  const maxSpans = options.maxSpans ?? DEFAULT_MAX_SPANS;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const store = traceStore(maxSpans);
  const file = options.file === undefined ? undefined : await spanFile(options.file, maxSpans);
  if (file) store.add(file.loaded);
  // With a file, what changes the spans runs one at a time, so that the file and memory agree.
  const serially = (task: () => Promise<void>): Promise<void> => (file ? file.serially(task) : task());

  const server = http.createServer((req, res) => {
    try {
      route(req, res);
    } catch (error) {
      if (res.headersSent) res.destroy();
      else json(res, 500, { error: `the receiver failed: ${String(error)}` });
    }
  });

  function route(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? "/", "http://receiver.local");
    const pathname = url.pathname;
    const traceId = /^\/(?:api\/)?traces\/([^/]+)$/.exec(pathname)?.[1]?.toLowerCase();
    if (pathname === OTLP_TRACES_PATH) {
      if (req.method !== "POST") {
        res.setHeader("allow", "POST");
        return void discardThen(req, () =>
          refuse(req, res, 405, RPC.unimplemented, "POST an ExportTraceServiceRequest"),
        );
      }
      return void receive(req, res).catch((error: unknown) => {
        if (res.headersSent) res.destroy();
        else refuse(req, res, 500, RPC.internal, `the receiver failed: ${String(error)}`);
      });
    }
    if (pathname === "/v1/metrics" || pathname === "/v1/logs") {
      return void discardThen(req, () =>
        refuse(req, res, 404, RPC.unimplemented, "this receiver keeps traces only (POST /v1/traces)"),
      );
    }
    if (req.method === "GET" && pathname === "/api/traces") {
      const limit = listLimit(url.searchParams.get("limit"));
      if (limit === undefined) return json(res, 400, { error: `limit must be an integer from 1 to ${MAX_LIST}` });
      return json(res, 200, summaries(store, url.searchParams.get("service"), limit));
    }
    if (req.method === "DELETE" && pathname === "/api/traces") {
      return void serially(async () => {
        store.clear();
        await file?.rewrite([]);
      }).then(
        () => res.writeHead(204).end(),
        (error: unknown) => json(res, 500, { error: `could not empty ${options.file}: ${String(error)}` }),
      );
    }
    if (req.method === "GET" && traceId !== undefined) {
      const spans = store.trace(traceId);
      if (pathname.startsWith("/api/")) {
        if (!spans) return json(res, 404, { error: "no such trace" });
        return json(res, 200, { traceId, spans: spans.map((kept) => kept.span) });
      }
      if (!spans) return html(res, 404, "No such trace", `<p><a href="/">Traces</a></p><h1>No such trace</h1>`);
      return html(res, 200, `Trace ${traceId}`, tracePage(traceId, spans));
    }
    if (req.method === "GET" && pathname === "/") {
      const service = url.searchParams.get("service");
      return html(res, 200, "Traces", listPage(store, service));
    }
    json(res, 404, { error: "not found: POST /v1/traces, GET /api/traces, GET /api/traces/{traceId}, GET /" });
  }

  /** One export: checks the headers, reads the body within the limit, decodes it, keeps its spans. */
  async function receive(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const media = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    if (media !== "application/json") {
      const protobuf = media === "application/x-protobuf" || media === "application/protobuf";
      return discardThen(req, () =>
        refuse(
          req,
          res,
          415,
          RPC.unimplemented,
          `only the JSON encoding of OTLP/HTTP is supported (Content-Type: application/json)${media ? `, not ${media}` : "; the request has no Content-Type"}`,
          protobuf,
        ),
      );
    }
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers["content-type"] ?? "")?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
      return discardThen(req, () => refuse(req, res, 415, RPC.unimplemented, "JSON must be UTF-8"));
    }
    const encoding = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
    if (encoding !== "identity" && encoding !== "gzip") {
      return discardThen(req, () =>
        refuse(req, res, 415, RPC.unimplemented, `Content-Encoding ${encoding} is not supported (gzip or none)`),
      );
    }
    const tooLarge = `the body is over ${maxBodyBytes} bytes`;
    let body = await readBoundedBody(req, maxBodyBytes);
    if (!body) return refuse(req, res, 413, RPC.resourceExhausted, tooLarge);
    if (encoding === "gzip") {
      try {
        body = await gunzip(body, { maxOutputLength: maxBodyBytes });
      } catch (error) {
        if ((error as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE") {
          return refuse(req, res, 413, RPC.resourceExhausted, `${tooLarge} once gunzipped`);
        }
        return refuse(req, res, 400, RPC.invalidArgument, `the body is not valid gzip: ${(error as Error).message}`);
      }
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body), exactIntegers);
    } catch (error) {
      return refuse(req, res, 400, RPC.invalidArgument, `the body is not JSON in UTF-8: ${(error as Error).message}`);
    }
    let decoded: DecodedRequest;
    try {
      decoded = decodeTraceRequest(parsed);
    } catch (error) {
      if (!(error instanceof InvalidRequestError)) throw error;
      return refuse(req, res, 400, RPC.invalidArgument, `not an ExportTraceServiceRequest: ${error.message}`);
    }
    try {
      await serially(async () => {
        store.add(decoded.spans);
        await file?.append(decoded.spans, store.all);
      });
    } catch (error) {
      return refuse(req, res, 500, RPC.internal, `kept in memory but not written to ${options.file}: ${String(error)}`);
    }
    json(
      res,
      200,
      decoded.rejected === 0
        ? {}
        : {
            partialSuccess: {
              rejectedSpans: decoded.rejected,
              errorMessage: `${decoded.rejected} span(s) could not be read: ${decoded.reasons.join("; ")}`,
            },
          },
    );
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    tracesEndpoint: `${url}${OTLP_TRACES_PATH}`,
    file: options.file,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await file?.settled();
    },
  };
}

/** The spans in memory: at most `maxSpans`, in arrival order, indexed by trace. */
function traceStore(maxSpans: number) {
  let order: Kept[] = [];
  const byTrace = new Map<string, Kept[]>();
  return {
    add(spans: ReceivedSpan[]): void {
      for (const span of spans) {
        const kept = { span, start: BigInt(span.startTimeUnixNano), end: BigInt(span.endTimeUnixNano) };
        order.push(kept);
        const trace = byTrace.get(span.traceId);
        if (trace) trace.push(kept);
        else byTrace.set(span.traceId, [kept]);
      }
      const excess = order.length - maxSpans;
      if (excess <= 0) return;
      for (const old of order.splice(0, excess)) {
        const trace = byTrace.get(old.span.traceId) ?? [];
        // Both lists are in arrival order, so the oldest span overall is the oldest of its trace.
        const at = trace.indexOf(old);
        if (at >= 0) trace.splice(at, 1);
        if (trace.length === 0) byTrace.delete(old.span.traceId);
      }
    },
    /** A trace's spans in start order (ties in arrival order); undefined when none is kept. */
    trace(traceId: string): Kept[] | undefined {
      const trace = byTrace.get(traceId);
      return trace && byStart(trace);
    },
    traces: () => byTrace.entries(),
    all: () => order.map((kept) => kept.span),
    clear(): void {
      order = [];
      byTrace.clear();
    },
  };
}

type TraceStore = ReturnType<typeof traceStore>;

const byStart = (spans: Kept[]): Kept[] =>
  spans.toSorted((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));

/** The latest end among the spans, and at least `from` (bigints: Math.max takes none). */
function latestEnd(spans: Kept[], from: bigint): bigint {
  let latest = from;
  for (const kept of spans) if (kept.end > latest) latest = kept.end;
  return latest;
}

function summarize(traceId: string, spans: Kept[]): TraceSummary & { startNanos: bigint } {
  const sorted = byStart(spans);
  const ids = new Set(sorted.map((kept) => kept.span.spanId));
  const root =
    sorted.find((kept) => kept.span.parentSpanId === null) ??
    sorted.find((kept) => kept.span.parentSpanId !== null && !ids.has(kept.span.parentSpanId)) ??
    sorted[0];
  const first = sorted[0];
  const start = first?.start ?? 0n;
  const end = latestEnd(sorted, start);
  return {
    traceId,
    rootName: root?.span.name ?? "",
    rootService: root?.span.service ?? "",
    services: [...new Set(sorted.map((kept) => kept.span.service))],
    spanCount: sorted.length,
    errorCount: sorted.filter((kept) => kept.span.status.code === "error").length,
    startTimeUnixNano: start.toString(),
    start: new Date(Number(start / 1_000_000n)).toISOString(),
    durationMs: Number(end - start) / 1e6,
    startNanos: start,
  };
}

/** The newest `limit` traces (by start), of one service's spans when `service` is given. */
function summaries(store: TraceStore, service: string | null, limit: number): TraceSummary[] {
  const all = [];
  for (const [traceId, spans] of store.traces()) {
    if (service && !spans.some((kept) => kept.span.service === service)) continue;
    all.push(summarize(traceId, spans));
  }
  all.sort((a, b) => (a.startNanos > b.startNanos ? -1 : a.startNanos < b.startNanos ? 1 : 0));
  return all.slice(0, limit).map(({ startNanos: _, ...summary }) => summary);
}

function listLimit(value: string | null): number | undefined {
  if (value === null) return DEFAULT_LIST;
  const limit = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  return limit >= 1 && limit <= MAX_LIST ? limit : undefined;
}

/**
 * The JSON-lines file: what it held when the receiver started (the newest `maxSpans` spans; a line
 * that does not parse, say one cut short by a crash, is skipped), and appends, one at a time. The
 * file is rewritten from memory when it has grown to twice `maxSpans` lines, and at start when it
 * held more, held unreadable lines or did not end with a newline.
 */
async function spanFile(file: string, maxSpans: number) {
  await mkdir(path.dirname(file), { recursive: true });
  const loaded: ReceivedSpan[] = [];
  let lines = 0;
  let unreadable = 0;
  let endsWithNewline = true;
  const size = await stat(file).then(
    (stats) => stats.size,
    () => 0,
  );
  if (size > 0) {
    const handle = await open(file);
    try {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      endsWithNewline = last[0] === 0x0a;
    } finally {
      await handle.close();
    }
    for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY })) {
      if (line.trim() === "") continue;
      lines += 1;
      const span = parseKeptLine(line);
      if (span) loaded.push(span);
      else unreadable += 1;
    }
    loaded.splice(0, Math.max(0, loaded.length - maxSpans));
  }

  let queue: Promise<void> = Promise.resolve();
  const rewrite = async (spans: ReceivedSpan[]) => {
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, spans.map((span) => `${JSON.stringify(span)}\n`).join(""));
    await rename(temporary, file);
    lines = spans.length;
  };
  if (lines > maxSpans || unreadable > 0 || !endsWithNewline) await rewrite(loaded);

  return {
    loaded,
    /** Runs the task after those queued before it; a failure fails its own caller only. */
    serially(task: () => Promise<void>): Promise<void> {
      const next = queue.then(task);
      queue = next.catch(() => {});
      return next;
    },
    /**
     * Appends the spans (inside {@link serially}); `current` gives every span in memory, these
     * included, should the file be due for compacting.
     */
    async append(spans: ReceivedSpan[], current: () => ReceivedSpan[]): Promise<void> {
      if (spans.length === 0) return;
      if (lines + spans.length > 2 * maxSpans) return rewrite(current());
      await appendFile(file, spans.map((span) => `${JSON.stringify(span)}\n`).join(""));
      lines += spans.length;
    },
    /** Replaces the file's content (inside {@link serially}). */
    rewrite,
    /** Resolves once every queued task has run. */
    settled: () => queue,
  };
}

/** A line of the file as the receiver wrote it; undefined for anything else. */
function parseKeptLine(line: string): ReceivedSpan | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const span = value as Partial<Record<keyof ReceivedSpan, unknown>>;
  const isObject = (field: unknown) => typeof field === "object" && field !== null && !Array.isArray(field);
  const ok =
    typeof span.traceId === "string" &&
    /^[0-9a-f]{32}$/.test(span.traceId) &&
    typeof span.spanId === "string" &&
    (span.parentSpanId === null || typeof span.parentSpanId === "string") &&
    typeof span.name === "string" &&
    typeof span.kind === "string" &&
    typeof span.service === "string" &&
    typeof span.startTimeUnixNano === "string" &&
    /^\d+$/.test(span.startTimeUnixNano) &&
    typeof span.endTimeUnixNano === "string" &&
    /^\d+$/.test(span.endTimeUnixNano) &&
    typeof span.durationMs === "number" &&
    isObject(span.status) &&
    isObject(span.attributes) &&
    isObject(span.resource) &&
    isObject(span.scope) &&
    Array.isArray(span.events) &&
    Array.isArray(span.links);
  return ok ? (value as ReceivedSpan) : undefined;
}

/**
 * A JSON.parse reviver: an integer beyond 2^53 written as a JSON number (OTLP/JSON allows int64 and
 * fixed64 fields as numbers) stays exact, as its decimal text, which the decoder reads like the
 * string form. (The source text is given by V8 since Node 21; without it the double is kept.)
 */
function exactIntegers(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== "number" || Number.isSafeInteger(value) || context?.source === undefined) return value;
  return /^-?\d+$/.test(context.source) ? context.source : value;
}

/** Reads and drops the body (as {@link readBoundedBody}), then answers. */
function discardThen(req: http.IncomingMessage, answer: () => void): Promise<void> {
  return readBoundedBody(req, 0).then(answer, answer);
}

const gunzip = promisify(zlib.gunzip);

/**
 * A refusal: a `google.rpc.Status` in the request's encoding (JSON, or protobuf for a protobuf
 * request: `code` is field 1, a varint; `message` field 2, a string).
 */
function refuse(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  code: number,
  message: string,
  protobuf = false,
): void {
  // Part of the body was never read (over the limit by more than DRAIN_BYTES): the connection closes after the answer.
  if (!req.complete) res.setHeader("connection", "close");
  if (!protobuf) {
    json(res, status, { code, message });
    return;
  }
  const text = Buffer.from(message, "utf8");
  res
    .writeHead(status, { "content-type": "application/x-protobuf" })
    .end(Buffer.concat([Buffer.from([0x08, code, 0x12]), varint(text.length), text]));
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

function html(res: http.ServerResponse, status: number, title: string, body: string): void {
  res
    .writeHead(status, {
      "content-type": "text/html; charset=utf-8",
      // Nothing on these pages runs: every value is escaped, and no script may load anyway.
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    })
    .end(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeUTF8(title)}</title></head>` +
        `<body style="font-family:sans-serif;max-width:1200px;margin:1em auto">${body}</body></html>`,
    );
}

/** `0.42 ms`, `12.3 ms`, `1.24 s`. */
function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

function formatValue(value: AttributeValue): string {
  const shown = typeof value === "string" ? value : JSON.stringify(value);
  return shown.length > PAGE_VALUE_CHARS ? `${shown.slice(0, PAGE_VALUE_CHARS)}…` : shown;
}

function listPage(store: TraceStore, service: string | null): string {
  const traces = summaries(store, service, PAGE_LIST);
  const services = new Set<string>();
  for (const [, spans] of store.traces()) for (const kept of spans) services.add(kept.span.service);
  const filters = [...services]
    .sort()
    .map((name) =>
      name === service
        ? `<strong>${escapeUTF8(name)}</strong>`
        : `<a href="/?service=${encodeURIComponent(name)}">${escapeUTF8(name)}</a>`,
    )
    .join(" · ");
  const rows = traces
    .map(
      (trace) =>
        `<tr><td>${escapeUTF8(trace.start)}</td>` +
        `<td><a href="/traces/${escapeUTF8(trace.traceId)}">${escapeUTF8(trace.rootName || "(no name)")}</a></td>` +
        `<td>${escapeUTF8(trace.services.join(", "))}</td><td align="right">${trace.spanCount}</td>` +
        `<td align="right"${trace.errorCount > 0 ? ' style="color:#b00"' : ""}>${trace.errorCount}</td>` +
        `<td align="right">${escapeUTF8(formatMs(trace.durationMs))}</td></tr>`,
    )
    .join("");
  return (
    `<h1>Traces</h1><p>The newest ${traces.length} trace(s)${service ? ` of ${escapeUTF8(service)}` : ""}, by start; ` +
    `JSON at <code>/api/traces</code>. Services: ${service ? '<a href="/">all</a> · ' : ""}${filters || "none yet"}</p>` +
    `<table cellpadding="4"><tr><th>Start (UTC)</th><th>Root span</th><th>Services</th><th>Spans</th>` +
    `<th>Errors</th><th>Duration</th></tr>${rows}</table>`
  );
}

/** The span tree: each span under its parent, in start order, with a bar on the trace's time line. */
function tracePage(traceId: string, spans: Kept[]): string {
  const start = spans[0]?.start ?? 0n;
  const end = latestEnd(spans, start);
  const total = Number(end - start) || 1;
  const ids = new Set(spans.map((kept) => kept.span.spanId));
  const children = new Map<string, Kept[]>();
  const roots: Kept[] = [];
  for (const kept of spans) {
    const parent = kept.span.parentSpanId;
    if (parent === null || !ids.has(parent)) roots.push(kept);
    else children.set(parent, [...(children.get(parent) ?? []), kept]);
  }
  const rows: string[] = [];
  const shown = new Set<Kept>();
  const visit = (kept: Kept, depth: number) => {
    if (shown.has(kept)) return;
    shown.add(kept);
    rows.push(spanRow(kept, depth, start, total));
    for (const child of children.get(kept.span.spanId) ?? []) visit(child, depth + 1);
  };
  for (const root of roots) visit(root, 0);
  // Spans whose parents form a cycle reach no root: shown at the top level rather than lost.
  for (const kept of spans) visit(kept, 0);
  const summary = summarize(traceId, spans);
  return (
    `<p><a href="/">Traces</a> · <a href="/api/traces/${escapeUTF8(traceId)}">JSON</a></p>` +
    `<h1>${escapeUTF8(summary.rootName || "(no name)")}</h1>` +
    `<p>Trace <code>${escapeUTF8(traceId)}</code>: ${spans.length} span(s) from ${escapeUTF8(summary.services.join(", "))}, ` +
    `${escapeUTF8(summary.start)}, ${escapeUTF8(formatMs(summary.durationMs))}</p>` +
    `<table cellpadding="3" style="border-collapse:collapse;width:100%"><tr><th align="left">Span</th>` +
    `<th align="left">Service</th><th>Kind</th><th align="right">Start</th><th align="right">Duration</th>` +
    `<th style="width:25%">Time line</th></tr>${rows.join("")}</table>`
  );
}

function spanRow(kept: Kept, depth: number, traceStart: bigint, total: number): string {
  const { span } = kept;
  const offset = Number(kept.start - traceStart);
  const left = (offset / total) * 100;
  const width = Math.max((Number(kept.end - kept.start) / total) * 100, 0.5);
  const error = span.status.code === "error";
  const attributes = Object.entries(span.attributes);
  const details = [
    ...attributes
      .slice(0, PAGE_ATTRIBUTES)
      .map(([key, value]) => `${escapeUTF8(key)}=${escapeUTF8(formatValue(value))}`),
    ...(attributes.length > PAGE_ATTRIBUTES ? [`+${attributes.length - PAGE_ATTRIBUTES} more`] : []),
    ...span.events.map(
      (event) =>
        `event ${escapeUTF8(event.name)} at +${escapeUTF8(formatMs(Number(BigInt(event.timeUnixNano) - traceStart) / 1e6))}`,
    ),
    ...(error ? [`error: ${escapeUTF8(span.status.message || "(no message)")}`] : []),
  ];
  return (
    `<tr style="border-top:1px solid #ddd;vertical-align:top">` +
    `<td style="padding-left:${depth * 18 + 3}px"><span${error ? ' style="color:#b00"' : ""}>${escapeUTF8(span.name || "(no name)")}</span>` +
    `<div style="font-size:smaller;color:#555">${details.join("<br>")}</div></td>` +
    `<td>${escapeUTF8(span.service)}</td><td align="center">${escapeUTF8(span.kind)}</td>` +
    `<td align="right">+${escapeUTF8(formatMs(offset / 1e6))}</td><td align="right">${escapeUTF8(formatMs(span.durationMs))}</td>` +
    `<td><div style="margin-left:${left.toFixed(2)}%;width:${width.toFixed(2)}%;height:10px;` +
    `background:${error ? "#d55" : "#58a"}"></div></td></tr>`
  );
}
