import { staffLifetimes } from "../../src/auth/auth-service.ts";
import { settleSessionsOutbox } from "../../src/auth/sessions-outbox.ts";
import { openDatabase } from "../../src/db/client.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { createLogger } from "../../src/pkg/logger/logger.ts";
import { HEARTBEAT } from "../../src/pkg/metrics/catalog.ts";
import { isolateSink, scheduleFlush } from "../../src/pkg/metrics/flush.ts";
import { isolateMetrics } from "../../src/pkg/metrics/recorder.ts";
import { configureTracing, flushSpans, inSpan } from "../../src/pkg/tracing/tracing.ts";
import { buildApp } from "./app.ts";

export { DeviceAuthorization } from "../../src/durable-objects/device-authorization.ts";
export { LoginThrottle } from "../../src/durable-objects/login-throttle.ts";
export { MetricsAggregator } from "../../src/durable-objects/metrics-aggregator.ts";
export { RateLimiter } from "../../src/durable-objects/rate-limiter.ts";
export { Sessions } from "../../src/durable-objects/sessions.ts";

const app = buildApp();

// Default export: the Workers runtime calls `fetch()` for requests and `scheduled()` for the cron
// trigger (wrangler.toml `[triggers]`): the SESSIONS outbox is settled every minute, and the API's
// heartbeat beaten.
export default {
  fetch: app.fetch,
  async scheduled(controller, env, ctx) {
    const config = loadApiConfig(env);
    const logger = createLogger({ level: config.logLevel, fields: { cron: controller.cron } });
    const database = openDatabase(config.database);
    isolateMetrics.enabled = config.metrics.enabled;
    configureTracing({ ...config.tracing, serviceName: "techcorp-api" });
    isolateMetrics.set(HEARTBEAT, { worker: "api" }, controller.scheduledTime / 1000);
    try {
      // Its own trace (a root span; kept at the sampling ratio), so its calls are not orphans.
      const report = await inSpan(`cron ${controller.cron}: the SESSIONS outbox`, {}, () =>
        settleSessionsOutbox(
          { http: database.http, sessions: env.SESSIONS, staffLifetimes: staffLifetimes(config), logger },
          undefined,
          new Date(controller.scheduledTime),
        ),
      );
      if (report.applied > 0 || report.failedUsers > 0) logger.info("sessions outbox settled", report);
    } finally {
      await database.close();
      ctx.waitUntil(flushSpans());
      if (config.metrics.enabled) {
        scheduleFlush(isolateMetrics, {
          sink: () => isolateSink(env.METRICS_AGGREGATOR, config.metrics.shards),
          intervalMs: config.metrics.flushIntervalMs,
          waitUntil: (promise) => ctx.waitUntil(promise),
        });
      }
    }
  },
} satisfies ExportedHandler<Env>;
