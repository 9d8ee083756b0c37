import { OpenAPIHono } from "@hono/zod-openapi";
import { cors } from "../gateway/cors.ts";
import { durableObjectCalls } from "../gateway/durable-object-calls.ts";
import { gateway } from "../gateway/gateway.ts";
import { httpMetrics } from "../gateway/http-metrics.ts";
import { jsonBodyLimit } from "../gateway/json-body-limit.ts";
import { methodNotAllowed } from "../gateway/method-not-allowed.ts";
import { oauthErrorResponses } from "../gateway/oauth-error-responses.ts";
import { percentEncoding } from "../gateway/percent-encoding.ts";
import { privateResponses } from "../gateway/private-responses.ts";
import { requestId } from "../gateway/request-id.ts";
import { requestLog } from "../gateway/request-log.ts";
import { requestTracing } from "../gateway/request-tracing.ts";
import { securityHeaders } from "../gateway/security-headers.ts";
import type { AppEnv } from "./context.ts";
import { methodNotAllowedResponse, notFound, onError, validationHook } from "./error-handler.ts";
import { readYourWrites } from "./read-your-writes.ts";
import { services } from "./services.ts";

/** A router for one resource. It shares the validation hook, so every input error has one shape. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
}

/**
 * The application shell every route runs inside: the request's span (W3C Trace Context, exported
 * over OTLP), request id (ours; the client's kept beside it), the
 * request's metrics (by route template, flushed in the background), security headers, `no-store` for
 * responses made for a caller with credentials, one log line per request, per-request services,
 * the count of Durable Object calls (logged; a `Server-Timing` metric outside production), CORS,
 * the caller's identity (when a token is presented) and rate limiting, 405 for known paths with
 * the wrong method (a templated route never answers for a concrete path: `DELETE /users/me` is 405,
 * not `DELETE /users/{id}`), 400 for percent-encoding that does not decode, 413 for JSON or form bodies over 64 KiB, and problem+json for every
 * error (sent as `application/json` by the OAuth token endpoint, RFC 6749 §5.2). Routers are
 * mounted on it by `buildApp`.
 */
export function createApp() {
  const app = createRouter();
  // First: the request's span is the parent of everything that follows.
  app.use(requestTracing());
  app.use(requestId());
  // Next, so that every answer is counted and timed, the refusals of what follows included.
  app.use(httpMetrics());
  app.use(securityHeaders());
  app.use(privateResponses());
  app.use(requestLog());
  // The OAuth token endpoint answers errors as RFC 6749 §5.2 says, including the gateway's (429, 503).
  app.use("/auth/token", oauthErrorResponses());
  app.use("/auth/revoke", oauthErrorResponses());
  app.use("/auth/introspect", oauthErrorResponses());
  app.use("/auth/device_authorization", oauthErrorResponses());
  app.use(services());
  app.use(readYourWrites());
  app.use(durableObjectCalls());
  app.use(cors());
  // The caller's identity (when a token is presented) and rate limiting, in one Durable Object call.
  app.use(gateway());
  // Last, so a 405 carries the headers above and is counted like any request, yet comes before any route.
  app.use(methodNotAllowed({ app, onMethodNotAllowed: methodNotAllowedResponse }));
  app.use(percentEncoding());
  app.use(jsonBodyLimit());
  app.notFound(notFound);
  app.onError(onError);
  return app;
}
