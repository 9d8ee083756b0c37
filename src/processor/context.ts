import type { DatabaseHandle } from "../db/client.ts";
import type { ProcessorConfig } from "../pkg/config/config.ts";
import type { Logger } from "../pkg/logger/logger.ts";
import type { ObjectStorage } from "../pkg/storage/storage.ts";

/** What a pipeline step may use; built once per batch by the processor entry. */
export interface ProcessorServices {
  config: ProcessorConfig;
  database: DatabaseHandle;
  storage: ObjectStorage;
  logger: Logger;
}

/**
 * What a step reports, and the consumer turns into ack or retry:
 * - `done`: finished (or already finished by an earlier delivery): ack.
 * - `retry`: a transient failure: redeliver later with backoff; after the retry limit the message
 *   goes to the dead-letter queue.
 */
export type StepResult = { outcome: "done"; note?: string } | { outcome: "retry"; reason: string };
