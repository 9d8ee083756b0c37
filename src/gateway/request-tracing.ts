import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app/context.ts";
import { loadApiConfig } from "../pkg/config/config.ts";
import {
  configureTracing,
  contextWith,
  extractContext,
  flushSpans,
  SpanKind,
  SpanStatusCode,
  startSpan,
  withContext,
} from "../pkg/tracing/tracing.ts";
import { requestMethod, routeTemplate } from "./http-metrics.ts";

/** Paths polled by machines, traced only when the caller sends a `traceparent`. */
const PROBES = new Set(["/health", "/ready", "/metrics"]);

/**
 * The request's server span (OpenTelemetry HTTP semantic conventions: named `<method> <route>`,
 * with `http.request.method`, `http.route`, `url.path`, `http.response.status_code`), a child of
 * the caller's W3C `traceparent` when one is sent (W3C Trace Context §3.2), else the root of a new
 * trace, sampled at OTEL_TRACES_SAMPLER_ARG. It is the active span for everything the request
 * does, so each Durable Object, Postgres, Redis, S3 and queue call is its child, and the queue
 * messages it sends carry its context to the processor. The trace id is set as `traceId` for the
 * logs. After the response the isolate's ended spans are exported (`flushSpans`, `waitUntil`).
 * Without OTEL_EXPORTER_OTLP_TRACES_ENDPOINT every span is a no-op. `/health`, `/ready` and
 * `/metrics` start no trace (a caller's `traceparent` still traces them). Runs first.
 */
export function requestTracing(): MiddlewareHandler<AppEnv> {
  return async function requestTracing(c, next) {
    try {
      configureTracing({ ...loadApiConfig(c.env).tracing, serviceName: "techcorp-api" });
    } catch {
      // An invalid configuration is the error handler's to report; the request goes untraced.
    }
    const parent = extractContext(c.req.raw.headers);
    // Probes (scrapes, health checks) start no trace of their own: every few seconds each, they
    // would bury the traces worth reading. A caller's traceparent still traces one.
    if (PROBES.has(c.req.path) && !c.req.header("traceparent")) return next();
    const method = requestMethod(c.req.method);
    const span = startSpan(method, {
      kind: SpanKind.SERVER,
      parent,
      attributes: {
        "http.request.method": method,
        "url.path": c.req.path,
        "url.scheme": new URL(c.req.url).protocol.replace(":", ""),
      },
    });
    const { traceId } = span.spanContext();
    // All zeros: tracing is off and no caller named a trace.
    if (!/^0+$/.test(traceId)) c.set("traceId", traceId);
    try {
      await withContext(contextWith(span, parent), next);
    } finally {
      const route = routeTemplate(c);
      if (route) {
        span.updateName(`${method} ${route}`);
        span.setAttribute("http.route", route);
      }
      span.setAttribute("http.response.status_code", c.res.status);
      const requestId = c.get("requestId");
      if (requestId) span.setAttribute("techcorp.request_id", requestId);
      // Server spans are errors for 5xx only: a 4xx is the client's (OpenTelemetry HTTP conventions).
      if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      try {
        c.executionCtx.waitUntil(flushSpans());
      } catch {
        // No execution context (app.request in a unit test): the spans go with a later flush.
      }
    }
  };
}
