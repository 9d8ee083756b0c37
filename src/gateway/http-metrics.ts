import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { AppEnv } from "../app/context.ts";
import { loadApiConfig, type MetricsConfig } from "../pkg/config/config.ts";
import {
  HTTP_SERVER_REQUEST_BODY_SIZE,
  HTTP_SERVER_REQUEST_DURATION,
  HTTP_SERVER_RESPONSE_BODY_SIZE,
} from "../pkg/metrics/catalog.ts";
import { isolateSink, scheduleFlush } from "../pkg/metrics/flush.ts";
import { isolateMetrics } from "../pkg/metrics/recorder.ts";

/**
 * The template of the route that served the request, as the OpenAPI document writes it
 * (`/documents/{id}`; Hono's `:id` and `:id{regex}` become `{id}`): the first route registered for
 * its method that matches (a HEAD is served by GET). Empty when no route matched (404, 405), so raw
 * paths and ids never become label values (OpenTelemetry `http.route`).
 */
export function routeTemplate(c: Context): string {
  const method = c.req.method === "HEAD" ? "GET" : c.req.method;
  const served = matchedRoutes(c).find((route) => route.method === method);
  return served ? served.path.replace(/:(\w+)(\{[^}]*\})?/g, "{$1}") : "";
}

/** The methods OpenTelemetry's HTTP conventions name; any other is `_OTHER` (bounded label values). */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);

/** `http.request.method` as the conventions want it: the method, or `_OTHER` for one they do not know. */
export function requestMethod(method: string): string {
  return KNOWN_METHODS.has(method) ? method : "_OTHER";
}

/** A byte count from a `Content-Length` header, or undefined when absent or not a count. */
function contentLength(value: string | null | undefined): number | undefined {
  if (!value || !/^\d{1,16}$/.test(value)) return undefined;
  return Number(value);
}

/**
 * `response` with its body counted as it streams out, the size recorded once the last byte has
 * gone: for bodies whose length the headers do not say (a JSON answer built from a string gets its
 * Content-Length from the runtime only as it is sent). A body the client stops reading is not recorded.
 */
function countedResponse(
  response: Response,
  labels: { http_request_method: string; http_route: string; http_response_status_code: number },
): Response {
  let bytes = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      bytes += chunk.byteLength;
      controller.enqueue(chunk);
    },
    flush() {
      isolateMetrics.observe(HTTP_SERVER_RESPONSE_BODY_SIZE, labels, bytes);
    },
  });
  return new Response(response.body?.pipeThrough(counter) ?? null, response);
}

/**
 * Records every request in `http_server_request_duration_seconds` (until the handler's response,
 * which is when its headers leave), `http_server_request_body_size_bytes` and
 * `http_server_response_body_size_bytes` (a request's when its `Content-Length` is given; a
 * response's from its `Content-Length`, or counted as its body streams out), by method, route
 * template and status code, then makes sure this isolate's flush to its aggregator shard is
 * scheduled (`scheduleFlush`: in the background, at most once per METRICS_FLUSH_INTERVAL_MS; no
 * request waits for it). Runs right after the request id, so every answer is counted, errors and
 * the gateway's refusals included. With `METRICS=off`, or a configuration that does not parse, it
 * only passes the request on.
 */
export function httpMetrics(): MiddlewareHandler<AppEnv> {
  return async function httpMetrics(c, next) {
    const started = performance.now();
    // Before `next`: later middleware replace c.env with a view that counts Durable Object calls.
    const namespace = c.env.METRICS_AGGREGATOR;
    let config: MetricsConfig | undefined;
    try {
      config = loadApiConfig(c.env).metrics;
    } catch {
      config = undefined;
    }
    if (config) isolateMetrics.enabled = config.enabled;
    if (!config?.enabled) return next();
    try {
      await next();
    } finally {
      const labels = {
        http_request_method: requestMethod(c.req.method),
        http_route: routeTemplate(c),
        http_response_status_code: c.res.status,
      };
      isolateMetrics.observe(HTTP_SERVER_REQUEST_DURATION, labels, (performance.now() - started) / 1000);
      const requestBytes = contentLength(c.req.header("content-length"));
      if (requestBytes !== undefined) isolateMetrics.observe(HTTP_SERVER_REQUEST_BODY_SIZE, labels, requestBytes);
      const responseBytes = contentLength(c.res.headers.get("content-length"));
      if (responseBytes !== undefined) isolateMetrics.observe(HTTP_SERVER_RESPONSE_BODY_SIZE, labels, responseBytes);
      else if (c.res.body && c.req.method !== "HEAD") c.res = countedResponse(c.res, labels);
      const metrics = config;
      try {
        const context = c.executionCtx;
        scheduleFlush(isolateMetrics, {
          sink: () => isolateSink(namespace, metrics.shards),
          intervalMs: metrics.flushIntervalMs,
          waitUntil: (promise) => context.waitUntil(promise),
        });
      } catch {
        // No execution context (app.request in a unit test): the counts wait for the next request.
      }
    }
  };
}
