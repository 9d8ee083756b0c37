import type { DatabaseHandle } from "../db/client.ts";
import type { Cache } from "../pkg/cache/cache.ts";
import type { ProcessorConfig } from "../pkg/config/config.ts";
import type { Logger } from "../pkg/logger/logger.ts";
import type { Mailbox, Mailer } from "../pkg/mail/mailer.ts";
import type { EventPublisher, NotificationPublisher } from "../pkg/queue/events.ts";
import type { MultipartStorage } from "../pkg/storage/multipart.ts";
import type { ObjectStorage } from "../pkg/storage/storage.ts";
import type { Clamd } from "../pkg/virus-scan/clamd.ts";

/** What a handler may use; built once per batch (or cron run) by the processor entry. */
export interface ProcessorServices {
  config: ProcessorConfig;
  database: DatabaseHandle;
  /** The documents bucket. */
  storage: ObjectStorage;
  /** The thumbnails bucket. */
  thumbnails: ObjectStorage;
  /** Multipart uploads into the documents bucket (the sweeper aborts expired resumable uploads). */
  multipart: MultipartStorage;
  /** Undefined when scanning is switched off by configuration (`VIRUS_SCAN=off`). */
  scanner: Clamd | undefined;
  documentEvents: EventPublisher;
  notifications: NotificationPublisher;
  /** Search results cached by the API, made stale when processing changes what they show. */
  cache: Cache;
  /** The sender and the mailer of mails; undefined without SMTP_HOST (outside production only). */
  mail: { from: Mailbox; mailer: Mailer } | undefined;
  /** Outgoing HTTP for webhooks (the global fetch; a parameter so the entry decides). */
  fetch: typeof fetch;
  logger: Logger;
}

/**
 * What a handler reports, and the consumer turns into ack or retry:
 * - `done`: finished (or already finished by an earlier delivery): ack.
 * - `retry`: a transient failure: redeliver later with backoff; after the retry limit the message
 *   goes to the dead-letter queue.
 */
export type StepResult = { outcome: "done"; note?: string } | { outcome: "retry"; reason: string };
