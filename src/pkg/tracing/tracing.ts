import {
  type Attributes,
  type Context,
  context,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  ParentBasedSampler,
  type ReadableSpan,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";

export type { Context, Span };
export { SpanKind, SpanStatusCode };

/** Where and how much an isolate traces (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, …). */
export interface TracingConfig {
  /** OTLP/HTTP traces endpoint (`…/v1/traces`); undefined: tracing is off. */
  endpoint: string | undefined;
  /** Extra headers of the export (an API key of the tracing service). */
  headers: Record<string, string>;
  /** The share of new traces recorded, 0–1; a request's `traceparent` decides for its own trace. */
  sampleRatio: number;
  /** `service.name` of the spans: `techcorp-api`, `techcorp-processor`. */
  serviceName: string;
}

/** Spans ended and not yet exported; beyond this many, new ones are dropped (an export is overdue). */
const MAX_BUFFERED_SPANS = 2_048;

/** Collects the isolate's ended spans until `flushSpans` sends them. */
class SpanBuffer implements SpanProcessor {
  spans: ReadableSpan[] = [];
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    if (this.spans.length < MAX_BUFFERED_SPANS) this.spans.push(span);
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

interface IsolateTracing {
  config: TracingConfig;
  buffer: SpanBuffer;
}

let isolate: IsolateTracing | undefined;
const propagator = new W3CTraceContextPropagator();

/**
 * Turns tracing on for this isolate with `config`, once (a later call with another configuration
 * is ignored: one isolate runs one deployment): a tracer provider that samples new traces at
 * `sampleRatio` and follows a parent's decision (ParentBased(TraceIdRatio)), W3C Trace Context
 * propagation, and the active span carried across `await` by AsyncLocalStorage. Without an
 * endpoint nothing is registered, and every span below is OpenTelemetry's no-op (no cost).
 */
export function configureTracing(config: TracingConfig): void {
  if (isolate || !config.endpoint) return;
  const buffer = new SpanBuffer();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": config.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [buffer],
  });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(propagator);
  isolate = { config, buffer };
}

const tracer = () => trace.getTracer("techcorp");

/** Reads `traceparent`/`tracestate` out of headers (a `Headers`) or a plain record (a queue event's fields). */
const getter: TextMapGetter<Headers | Record<string, unknown>> = {
  keys: (carrier) => (carrier instanceof Headers ? [...carrier.keys()] : Object.keys(carrier)),
  get: (carrier, key) => {
    const value = carrier instanceof Headers ? carrier.get(key) : carrier[key];
    return typeof value === "string" ? value : undefined;
  },
};

/**
 * The context a W3C `traceparent` (and `tracestate`) names, from request headers or an event's
 * fields (W3C Trace Context §3.2, §3.3); the root context when absent or malformed (a new trace).
 */
export function extractContext(carrier: Headers | Record<string, unknown>): Context {
  return propagation.extract(ROOT_CONTEXT, carrier, getter);
}

/**
 * A parent that records nothing: a span started under it is not recorded (nor are its children),
 * for work that must not start a trace of its own.
 */
export function unsampled(): Context {
  // A valid context whose sampled flag is off: ParentBased sampling then records nothing under it
  // (an invalid, all-zero one would count as no parent, and start a trace).
  const hex = (bytes: number) =>
    Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: hex(16), spanId: hex(8), traceFlags: 0, isRemote: true });
}

/**
 * `traceparent` (and `tracestate` when there is one) of `at` (the active context by default), to
 * send onward: in a queue event, a webhook's headers. Empty when no sampled span is active.
 */
export function traceHeaders(at: Context = context.active()): { traceparent?: string; tracestate?: string } {
  const carrier: Record<string, string> = {};
  propagation.inject(at, carrier);
  return {
    ...(carrier.traceparent ? { traceparent: carrier.traceparent } : {}),
    ...(carrier.tracestate ? { tracestate: carrier.tracestate } : {}),
  };
}

/** The trace id of the active span (32 hex digits), or undefined outside a recorded trace. */
export function activeTraceId(at: Context = context.active()): string | undefined {
  const span = trace.getSpanContext(at);
  return span && trace.isSpanContextValid(span) ? span.traceId : undefined;
}

/**
 * Options of a span: its kind (internal by default), attributes, its parent (the active context by
 * default) and links to spans of other traces (a batch's messages).
 */
export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  parent?: Context;
  links?: Link[];
}

/** Starts a span (not made active); the caller ends it. */
export function startSpan(name: string, options: SpanOptions = {}): Span {
  return tracer().startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
      ...(options.links ? { links: options.links } : {}),
    },
    options.parent ?? context.active(),
  );
}

/** Marks `span` failed by `error` (status ERROR, an `exception` event), as the semantic conventions ask. */
export function recordFailure(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/**
 * Runs `work` inside a new span, active for everything it awaits (its calls become its children),
 * and ends it when `work` settles; a rejection marks the span failed and is rethrown.
 */
export async function inSpan<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  const span = startSpan(name, options);
  try {
    return await context.with(trace.setSpan(options.parent ?? context.active(), span), () => work(span));
  } catch (error) {
    recordFailure(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Runs `work` with `at` as the active context. */
export function withContext<T>(at: Context, work: () => T): T {
  return context.with(at, work);
}

/** The active context, with `span` as its span. */
export function contextWith(span: Span, at: Context = context.active()): Context {
  return trace.setSpan(at, span);
}

/**
 * Sends every span ended in this isolate since the last flush to the OTLP/HTTP endpoint (JSON
 * encoding: OpenTelemetry's own serializer) in one POST; to be kept alive with `waitUntil` after
 * the response. A failed export drops those spans (tracing never retries at the cost of requests)
 * and resolves false; never throws. Resolves true when nothing was pending or the endpoint took them.
 */
export async function flushSpans(fetcher: typeof fetch = fetch): Promise<boolean> {
  if (!isolate || isolate.buffer.spans.length === 0) return true;
  const { config, buffer } = isolate;
  const spans = buffer.spans;
  buffer.spans = [];
  const body = JsonTraceSerializer.serializeRequest(spans);
  if (!body || !config.endpoint) return false;
  try {
    const response = await fetcher(config.endpoint, {
      method: "POST",
      headers: { "content-type": "application/json", ...config.headers },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}
