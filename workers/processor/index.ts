import { openDatabase } from "../../src/db/client.ts";
import { createRedisCache, disabledCache } from "../../src/pkg/cache/cache.ts";
import { loadProcessorConfig } from "../../src/pkg/config/config.ts";
import { createLogger, type Logger } from "../../src/pkg/logger/logger.ts";
import { createSmtpMailer } from "../../src/pkg/mail/smtp.ts";
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
import { createClamd } from "../../src/pkg/virus-scan/clamd.ts";
import type { ProcessorServices, StepResult } from "../../src/processor/context.ts";
import { failDeadLettered, processDocuments } from "../../src/processor/documents/pipeline.ts";
import { type BatchEvent, handleBatch } from "../../src/processor/handle-batch.ts";
import { handleDeadNotificationEvent, handleNotificationBatch } from "../../src/processor/notifications/handlers.ts";
import { notifyProjectEvents } from "../../src/processor/notifications/project-events.ts";
import { sweep } from "../../src/processor/sweeper.ts";

/** Runs `work` with the services of one batch or cron run; the database pool ends with it. */
async function withServices<T>(
  env: Env,
  logger: (level: Logger) => Logger,
  work: (services: ProcessorServices) => Promise<T>,
) {
  const config = loadProcessorConfig(env);
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
  }
}

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
  events.forEach(({ event, attempts, logger }, index) => {
    if (event.type === "document.uploaded") uploads.push({ event, attempts, logger, index });
    else if (isProjectEvent(event)) projectEvents.push({ event, attempts, logger, index });
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

// Default export: the Workers runtime calls `queue()` for every consumed queue and `scheduled()`
// for the cron trigger. Queues are told apart by name (environments may add a suffix).
export default {
  async queue(batch, env) {
    await withServices(
      env,
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

  async scheduled(controller, env) {
    await withServices(
      env,
      (logger) => logger.with({ cron: controller.cron }),
      async (services) => {
        const report = await sweep(services, new Date(controller.scheduledTime));
        services.logger.info("sweep finished", { ...report });
      },
    );
  },
} satisfies ExportedHandler<Env, unknown>;
