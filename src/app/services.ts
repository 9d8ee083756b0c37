import type { MiddlewareHandler } from "hono";
import { openDatabase } from "../db/client.ts";
import { createRedisCache, disabledCache } from "../pkg/cache/cache.ts";
import { loadApiConfig } from "../pkg/config/config.ts";
import { createLogger } from "../pkg/logger/logger.ts";
import { createNotificationPublisher, createQueuePublisher } from "../pkg/queue/events.ts";
import { createS3Multipart } from "../pkg/storage/multipart.ts";
import { createS3Storage } from "../pkg/storage/storage.ts";
import type { AppEnv, Services } from "./context.ts";

/**
 * Builds the per-request services from the bindings: configuration (parsed once per isolate,
 * failing closed), the request logger, and lazily-opened clients for Postgres, Redis, S3 and the
 * queue, each with its configured deadline (see README, "Deadlines"). Postgres comes in both of the
 * driver's modes (src/db/client.ts): the HTTP mode holds no connection; the WebSocket pool, opened
 * only if a transaction needs it, is closed when the request and its background work are done.
 */
export function services(): MiddlewareHandler<AppEnv> {
  return async function services(c, next) {
    const config = loadApiConfig(c.env);
    c.set(
      "logger",
      createLogger({
        level: config.logLevel,
        fields: { requestId: c.get("requestId"), traceId: c.get("traceId"), clientRequestId: c.get("clientRequestId") },
      }),
    );
    const database = openDatabase(config.database, {
      replica: config.readReplica,
      onReplicaFallback: ({ outcome, lagSeconds, error }) =>
        c.get("logger").warn("replica read served by the primary", { outcome, lagSeconds, error }),
    });
    const background: Promise<unknown>[] = [];
    const built: Services = {
      config,
      database,
      cache: config.cache ? createRedisCache(config.cache) : disabledCache,
      storage: createS3Storage(config.storage),
      thumbnails: createS3Storage(config.storage, config.storage.thumbnailsBucket),
      multipart: createS3Multipart(config.storage),
      events: createQueuePublisher(c.env.DOCUMENT_EVENTS, config.queueTimeoutMs),
      notifications: createNotificationPublisher(c.env.NOTIFICATIONS, config.queueTimeoutMs),
      background(name, task) {
        background.push(task().catch((error: unknown) => c.get("logger").warn(`${name} failed`, { error })));
      },
    };
    c.set("services", built);
    try {
      await next();
    } finally {
      // Background work may still use the database: it closes after that work is done.
      const closing = Promise.allSettled(background)
        .then(() => database.close())
        .catch((error: unknown) => c.get("logger").warn("database close failed", { error }));
      // Let the response go out first when the runtime allows it.
      try {
        c.executionCtx.waitUntil(closing);
      } catch {
        await closing;
      }
    }
  };
}
