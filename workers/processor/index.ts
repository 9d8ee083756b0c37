import { openDatabase } from "../../src/db/client.ts";
import { loadProcessorConfig } from "../../src/pkg/config/config.ts";
import { createLogger } from "../../src/pkg/logger/logger.ts";
import { createS3Storage } from "../../src/pkg/storage/storage.ts";
import { handleBatch } from "../../src/processor/handle-batch.ts";

// Default export: the Workers runtime calls `queue()` on it.
export default {
  async queue(batch, env) {
    const config = loadProcessorConfig(env);
    const logger = createLogger({ level: config.logLevel, fields: { worker: "processor", queue: batch.queue } });
    const database = openDatabase(config.database);
    try {
      await handleBatch(
        batch,
        { config, database, storage: createS3Storage(config.storage), logger },
        { deadLetter: batch.queue.endsWith("-dlq") },
      );
    } finally {
      await database.close();
    }
  },
} satisfies ExportedHandler<Env, unknown>;
