import { openDatabase } from "../../src/db/client.ts";
import { createRedisCache, disabledCache } from "../../src/pkg/cache/cache.ts";
import { loadProcessorConfig } from "../../src/pkg/config/config.ts";
import { createLogger, type Logger } from "../../src/pkg/logger/logger.ts";
import { createSmtpMailer } from "../../src/pkg/mail/smtp.ts";
import { HEARTBEAT } from "../../src/pkg/metrics/catalog.ts";
import { isolateSink, scheduleFlush } from "../../src/pkg/metrics/flush.ts";
import { isolateMetrics } from "../../src/pkg/metrics/recorder.ts";
import {
  createNotificationPublisher,
  createQueuePublisher,
  type DocumentEvent,
  DocumentEventSchema,
  type DocumentUploaded,
  isProjectEvent,
  NotificationEventSchema,
  type ProjectEvent,
} from "../../src/pkg/queue/events.ts";
import { createS3Multipart } from "../../src/pkg/storage/multipart.ts";
import { createS3Storage } from "../../src/pkg/storage/storage.ts";
import { configureTracing, flushSpans, inSpan } from "../../src/pkg/tracing/tracing.ts";
import { createClamd } from "../../src/pkg/virus-scan/clamd.ts";
import type { ProcessorServices, StepResult } from "../../src/processor/context.ts";
import { failDeadLettered, processDocuments } from "../../src/processor/documents/pipeline.ts";
import { type BatchEvent, handleBatch } from "../../src/processor/handle-batch.ts";
import { handleDeadNotificationEvent, handleNotificationBatch } from "../../src/processor/notifications/handlers.ts";
import { notifyProjectEvents } from "../../src/processor/notifications/project-events.ts";
import { sweep } from "../../src/processor/sweeper.ts";

// The API worker's metrics aggregator, exported here too only so that the processor's tests, which
// run without the API worker, can bind it (vitest.config.ts); deployed, the processor binds the API's.
export { MetricsAggregator } from "../../src/durable-objects/metrics-aggregator.ts";

/**
 * Runs `work` with the services of one batch or cron run; the database pool ends with it, and what
 * the run counted is flushed to the metrics aggregator after it, and its spans exported (`ctx.waitUntil`).
 */
async function withServices<T>(
  env: Env,
  ctx: ExecutionContext,
  logger: (level: Logger) => Logger,
  work: (services: ProcessorServices) => Promise<T>,
) {
  const config = loadProcessorConfig(env);
  isolateMetrics.worker = "processor";
  isolateMetrics.enabled = config.metrics.enabled;
  configureTracing({ ...config.tracing, serviceName: "techcorp-processor" });
  const database = openDatabase(config.database);
  const services: ProcessorServices = {
    config,
    database,
    storage: createS3Storage(config.storage),
    thumbnails: createS3Storage(config.storage, config.storage.thumbnailsBucket),
    multipart: createS3Multipart(config.storage),
    scanner: config.virusScan ? createClamd(config.virusScan) : undefined,
    documentEvents: createQueuePublisher(env.DOCUMENT_EVENTS, config.queueTimeoutMs),
    notifications: createNotificationPublisher(env.NOTIFICATIONS, config.queueTimeoutMs),
    cache: config.cache ? createRedisCache(config.cache) : disabledCache,
    mail: config.mail && { from: config.mail.from, mailer: createSmtpMailer(config.mail.smtp) },
    fetch: (input, init) => fetch(input, init),
    logger: logger(createLogger({ level: config.logLevel, fields: { worker: "processor" } })),
  };
  try {
    return await work(services);
  } finally {
    await database.close();
    ctx.waitUntil(flushSpans());
    if (config.metrics.enabled) {
      scheduleFlush(isolateMetrics, {
        // The binding names the API worker's class (script_name): its type does not reach here.
        sink: () => isolateSink(env.METRICS_AGGREGATOR as unknown as MetricsShards, config.metrics.shards),
        intervalMs: config.metrics.flushIntervalMs,
        waitUntil: (promise) => ctx.waitUntil(promise),
      });
    }
  }
}

/** The METRICS_AGGREGATOR namespace as the flush uses it. */
type MetricsShards = Parameters<typeof isolateSink>[0];

/** The dead-letter queue's handler: each message on its own (they are rare). */
function deadDocumentHandler(event: DocumentEvent, attempts: number, services: ProcessorServices): Promise<StepResult> {
  if (event.type === "system.ping") return Promise.resolve({ outcome: "done", note: "ping" });
  if (isProjectEvent(event)) {
    // Nobody heard of it: logged for the operator; the change itself was committed and recorded.
    services.logger.error("project event dead-lettered; its notifications were not stored", { attempts });
    return Promise.resolve({ outcome: "done", note: "dead-lettered" });
  }
  return failDeadLettered(event, attempts, services);
}

/**
 * The document-events queue's handler: pings are done, the uploads of the batch are processed
 * together, and the Project Service's events go to the Notification Service, together.
 */
async function documentBatchHandler(events: BatchEvent<DocumentEvent>[], services: ProcessorServices) {
  const results: StepResult[] = events.map(() => ({ outcome: "done", note: "ping" }));
  const uploads: (BatchEvent<DocumentUploaded> & { index: number })[] = [];
  const projectEvents: (BatchEvent<ProjectEvent> & { index: number })[] = [];
  events.forEach(({ event, attempts, logger, context }, index) => {
    if (event.type === "document.uploaded") uploads.push({ event, attempts, logger, context, index });
    else if (isProjectEvent(event)) projectEvents.push({ event, attempts, logger, context, index });
  });
  const settle = (group: { index: number }[], outcomes: StepResult[]) =>
    group.forEach(({ index }, i) => {
      results[index] = outcomes[i] ?? { outcome: "retry", reason: "no result" };
    });
  await Promise.all([
    uploads.length > 0 ? processDocuments(uploads, services).then((done) => settle(uploads, done)) : undefined,
    projectEvents.length > 0
      ? notifyProjectEvents(projectEvents, services).then(
          (done) => settle(projectEvents, done),
          (error: unknown) => {
            services.logger.warn("project events failed", { error });
            settle(
              projectEvents,
              projectEvents.map(() => ({
                outcome: "retry",
                reason: error instanceof Error ? error.message : String(error),
              })),
            );
          },
        )
      : undefined,
  ]);
  return results;
}

/** The sweeper's trigger (workers/processor/wrangler.toml `[triggers]`); the other one is the heartbeat's. */
const SWEEP_CRON = "*/10 * * * *";

// Default export: the Workers runtime calls `queue()` for every consumed queue and `scheduled()`
// for the cron trigger. Queues are told apart by name (environments may add a suffix).
export default {
  async queue(batch, env, ctx) {
    await withServices(
      env,
      ctx,
      (logger) => logger.with({ queue: batch.queue }),
      async (services) => {
        const deadLetter = batch.queue.endsWith("-dlq");
        if (batch.queue.startsWith("notifications")) {
          await handleBatch(
            batch,
            NotificationEventSchema,
            deadLetter ? handleDeadNotificationEvent : { batch: handleNotificationBatch },
            services,
          );
        } else {
          await handleBatch(
            batch,
            DocumentEventSchema,
            deadLetter ? deadDocumentHandler : { batch: documentBatchHandler },
            services,
          );
        }
      },
    );
  },

  async scheduled(controller, env, ctx) {
    await withServices(
      env,
      ctx,
      (logger) => logger.with({ cron: controller.cron }),
      async (services) => {
        // Every run beats the heartbeat; the every-minute trigger does nothing else.
        isolateMetrics.set(HEARTBEAT, { worker: "processor" }, controller.scheduledTime / 1000);
        if (controller.cron !== SWEEP_CRON) return;
        // Its own trace (a root span; kept at the sampling ratio), so its calls are not orphans.
        const report = await inSpan(`cron ${controller.cron}: the sweeper`, {}, () =>
          sweep(services, new Date(controller.scheduledTime)),
        );
        services.logger.info("sweep finished", { ...report });
      },
    );
  },
} satisfies ExportedHandler<Env, unknown>;
