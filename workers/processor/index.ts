import { openDatabase } from "../../src/db/client.ts";
import { createRedisCache, disabledCache } from "../../src/pkg/cache/cache.ts";
import { loadProcessorConfig } from "../../src/pkg/config/config.ts";
import { createLogger, type Logger } from "../../src/pkg/logger/logger.ts";
import {
  createNotificationPublisher,
  createQueuePublisher,
  type DocumentEvent,
  DocumentEventSchema,
  NotificationEventSchema,
} from "../../src/pkg/queue/events.ts";
import { createS3Storage } from "../../src/pkg/storage/storage.ts";
import { createClamd } from "../../src/pkg/virus-scan/clamd.ts";
import type { ProcessorServices, StepResult } from "../../src/processor/context.ts";
import { failDeadLettered, processDocument } from "../../src/processor/documents/pipeline.ts";
import { handleBatch } from "../../src/processor/handle-batch.ts";
import { handleDeadNotificationEvent, handleNotificationEvent } from "../../src/processor/notifications/handlers.ts";
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
    scanner: config.virusScan ? createClamd(config.virusScan) : undefined,
    documentEvents: createQueuePublisher(env.DOCUMENT_EVENTS, config.queueTimeoutMs),
    notifications: createNotificationPublisher(env.NOTIFICATIONS, config.queueTimeoutMs),
    cache: config.cache ? createRedisCache(config.cache) : disabledCache,
    fetch: (input, init) => fetch(input, init),
    logger: logger(createLogger({ level: config.logLevel, fields: { worker: "processor" } })),
  };
  try {
    return await work(services);
  } finally {
    await database.close();
  }
}

function documentHandler(deadLetter: boolean) {
  return (event: DocumentEvent, attempts: number, services: ProcessorServices): Promise<StepResult> => {
    if (event.type === "system.ping") return Promise.resolve({ outcome: "done", note: "ping" });
    return deadLetter ? failDeadLettered(event, attempts, services) : processDocument(event, attempts, services);
  };
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
            deadLetter ? handleDeadNotificationEvent : handleNotificationEvent,
            services,
          );
        } else {
          await handleBatch(batch, DocumentEventSchema, documentHandler(deadLetter), services);
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
