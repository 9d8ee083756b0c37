import { describe, expect, it } from "vitest";
import { signedIn } from "../auth-helpers.ts";
import { created, formUpload, processed } from "../document-helpers.ts";
import { apiWith, captureLines, eventually, testEnv } from "../helpers.ts";

/** One span as the stack's OTLP receiver keeps it (stack/otlp-receiver.ts). */
interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  service: string;
  attributes: Record<string, unknown>;
}

const hex = (bytes: number) =>
  Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");

/** The spans of `traceId` the receiver holds so far (none when it knows no such trace). */
async function spansOf(traceId: string): Promise<ReceivedSpan[]> {
  const response = await fetch(`${testEnv.OTLP_RECEIVER_URL}/api/traces/${traceId}`);
  if (response.status === 404) return [];
  expect(response.status).toBe(200);
  return ((await response.json()) as { spans: ReceivedSpan[] }).spans;
}

/** Waits until the trace holds a span of each name (the workers export after their work, in the background). */
async function traceWith(traceId: string, names: string[]): Promise<ReceivedSpan[]> {
  try {
    return await eventually(async () => {
      const spans = await spansOf(traceId);
      return names.every((name) => spans.some((span) => span.name === name)) ? spans : undefined;
    }, 30_000);
  } catch {
    const spans = await spansOf(traceId);
    const missing = names.filter((name) => !spans.some((span) => span.name === name));
    throw new Error(
      `trace ${traceId} lacks ${missing.join(", ")}; it has ${spans.map((s) => `${s.service}:${s.name}`).join(", ")}`,
    );
  }
}

/** The span named `name` (the first), failing the test when there is none. */
function spanNamed(spans: ReceivedSpan[], name: string): ReceivedSpan {
  const span = spans.find((s) => s.name === name);
  if (!span) throw new Error(`no span ${name} in ${spans.map((s) => s.name).join(", ")}`);
  return span;
}

/** Whether `ancestor` is `span`'s parent, or its parent's, and so on. */
function descends(spans: ReceivedSpan[], span: ReceivedSpan, ancestor: ReceivedSpan): boolean {
  let parent = spans.find((s) => s.spanId === span.parentSpanId);
  while (parent) {
    if (parent.spanId === ancestor.spanId) return true;
    const next = parent.parentSpanId;
    parent = spans.find((s) => s.spanId === next);
  }
  return false;
}

describe("traces", () => {
  it("follow an upload from the API through the queue, the processor's scan, extraction, index and notification, and its webhook", async () => {
    const { auth } = await signedIn();
    // A verified webhook for the document's readiness, at a receiver of the test stack (stack/control.ts).
    const hookUrl = `${testEnv.CONTROL_URL}/hooks/traced-${hex(4)}`;
    const send = (method: string, path: string, body?: unknown) =>
      apiWith({}, path, {
        method,
        headers: { ...auth, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const hook = (await (await send("POST", "/webhooks", { url: hookUrl, events: ["document.ready"] })).json()) as {
      id: string;
    };
    await fetch(`${hookUrl}/answers`, { method: "PUT", body: JSON.stringify([{ status: 200, echoChallenge: true }]) });
    expect((await send("POST", `/webhooks/${hook.id}/verify`)).status).toBe(200);
    // The caller's own trace: everything the upload causes joins it (W3C Trace Context §3.2).
    const traceId = hex(16);
    const callerSpanId = hex(8);
    const document = await created(
      formUpload(
        { ...auth, traceparent: `00-${traceId}-${callerSpanId}-01` },
        { bytes: "# Traced\n\nA document followed end to end.\n", type: "text/markdown", name: "traced.md" },
        { title: "traced" },
      ),
    );
    await processed(auth, document.id);

    const spans = await traceWith(traceId, [
      "POST /documents",
      "queue document-events.send",
      "document-events process",
      "document scan",
      "document extract",
      "document index",
      "document notify",
      "notifications process",
    ]);
    expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([traceId]));

    const request = spanNamed(spans, "POST /documents");
    expect(request.service).toBe("techcorp-api");
    expect(request.parentSpanId).toBe(callerSpanId);
    expect(request.attributes["http.route"]).toBe("/documents");
    expect(request.attributes["http.response.status_code"]).toBe(201);
    // The request's own calls are its children: S3, Postgres, the user's SESSIONS object, the queue.
    for (const name of ["queue document-events.send", "durable_object SESSIONS.authorize"]) {
      expect(descends(spans, spanNamed(spans, name), request), name).toBe(true);
    }
    expect(spans.some((span) => span.name.startsWith("s3 ") && descends(spans, span, request))).toBe(true);
    expect(spans.some((span) => span.name === "postgres http_transaction" && descends(spans, span, request))).toBe(
      true,
    );

    const consumed = spanNamed(spans, "document-events process");
    expect(consumed.service).toBe("techcorp-processor");
    expect(descends(spans, consumed, request)).toBe(true);
    const scan = spanNamed(spans, "document scan");
    expect(scan.parentSpanId).toBe(consumed.spanId);
    expect(scan.attributes["techcorp.document.id"]).toBe(document.id);
    // The scan's calls are its children: clamd (when the stack runs it) and the object's read.
    expect(spans.some((span) => span.parentSpanId === scan.spanId && span.name.startsWith("s3 "))).toBe(true);
    if (testEnv.VIRUS_SCAN === "required") {
      expect(spans.some((span) => span.parentSpanId === scan.spanId && span.name === "clamd INSTREAM")).toBe(true);
    }
    for (const step of ["document extract", "document index", "document notify"]) {
      expect(spanNamed(spans, step).parentSpanId, step).toBe(consumed.spanId);
    }
    const notification = spanNamed(spans, "notifications process");
    expect(descends(spans, notification, spanNamed(spans, "document notify"))).toBe(true);

    // The webhook's request carries the trace on to the receiver, from its own client span.
    const delivered = await eventually(async () => {
      const received = (await (await fetch(hookUrl)).json()) as { headers: Record<string, string>; body: string }[];
      return received.find((request) => request.body.includes(document.id));
    }, 30_000);
    const [, sentTraceId, sentSpanId] = delivered.headers.traceparent?.split("-") ?? [];
    expect(sentTraceId).toBe(traceId);
    const webhookCall = spanNamed(await traceWith(traceId, ["webhook POST"]), "webhook POST");
    expect(webhookCall.spanId).toBe(sentSpanId);
  });

  it("start a trace for a request that names none, and its id is in the request's log line; probes start none", async () => {
    const lines = await captureLines(async () => {
      expect((await apiWith({ LOG_LEVEL: "info" } as Partial<Env>, "/openapi.json")).status).toBe(200);
      expect((await apiWith({ LOG_LEVEL: "info" } as Partial<Env>, "/health")).status).toBe(200);
    });
    const line = lines.find((l) => l.message === "request" && l.path === "/openapi.json");
    expect(line?.traceId).toMatch(/^[0-9a-f]{32}$/);
    const spans = await traceWith(String(line?.traceId), ["GET /openapi.json"]);
    expect(spanNamed(spans, "GET /openapi.json").parentSpanId ?? "").toBe("");
    // Machines poll /health, /ready and /metrics: without a caller's traceparent they start no trace.
    expect(lines.find((l) => l.message === "request" && l.path === "/health")?.traceId).toBeUndefined();
  });

  it("keep a caller's unsampled trace unrecorded, and ignore a malformed traceparent", async () => {
    const unsampled = hex(16);
    const lines = await captureLines(async () => {
      await apiWith({ LOG_LEVEL: "info" } as Partial<Env>, "/health", {
        headers: { traceparent: `00-${unsampled}-${hex(8)}-00` },
      });
      await apiWith({ LOG_LEVEL: "info" } as Partial<Env>, "/health", { headers: { traceparent: "00-zz-nope-01" } });
    });
    const [first, second] = lines.filter((l) => l.message === "request");
    // The caller decided not to record: the id still joins the logs, and nothing is exported.
    expect(first?.traceId).toBe(unsampled);
    expect(second?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(second?.traceId).not.toBe(unsampled);
    await traceWith(String(second?.traceId), ["GET /health"]);
    expect(await spansOf(unsampled)).toEqual([]);
  });
});
