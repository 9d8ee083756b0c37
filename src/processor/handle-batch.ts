import { type DocumentEvent, DocumentEventSchema } from "../pkg/queue/events.ts";
import { retryDelaySeconds } from "./backoff.ts";
import type { ProcessorServices, StepResult } from "./context.ts";
import { failDeadLetteredDocument, processDocumentUploaded } from "./steps/document-uploaded.ts";

export interface BatchOptions {
  /** The batch comes from the dead-letter queue: its messages exhausted their retries. */
  deadLetter: boolean;
}

function route(
  event: DocumentEvent,
  attempts: number,
  services: ProcessorServices,
  options: BatchOptions,
): Promise<StepResult> {
  switch (event.type) {
    case "document.uploaded":
      return options.deadLetter
        ? failDeadLetteredDocument(event, attempts, services)
        : processDocumentUploaded(event, services);
    case "system.ping":
      return Promise.resolve({ outcome: "done", note: "ping" });
  }
}

/**
 * Decides every message on its own: ack when its step is done, retry with exponential backoff
 * when it failed transiently (the queue moves it to the dead-letter queue after `max_retries`).
 * A message that is not a valid event can never succeed, so it is acked and logged as an error.
 */
export async function handleBatch(
  batch: MessageBatch<unknown>,
  services: ProcessorServices,
  options: BatchOptions,
): Promise<void> {
  await Promise.all(
    batch.messages.map(async (message) => {
      const parsed = DocumentEventSchema.safeParse(message.body);
      if (!parsed.success) {
        services.logger.error("malformed message dropped", { messageId: message.id, issues: parsed.error.issues });
        message.ack();
        return;
      }
      const event = parsed.data;
      const log = services.logger.with({
        requestId: event.requestId,
        eventId: event.id,
        eventType: event.type,
        messageId: message.id,
        attempts: message.attempts,
      });
      let result: StepResult;
      try {
        result = await route(event, message.attempts, services, options);
      } catch (error) {
        log.warn("step failed", { error });
        result = { outcome: "retry", reason: error instanceof Error ? error.message : String(error) };
      }
      if (result.outcome === "done") {
        message.ack();
        log.info("message processed", { note: result.note });
      } else {
        const delaySeconds = retryDelaySeconds(message.attempts);
        message.retry({ delaySeconds });
        log.warn("message retried", { reason: result.reason, delaySeconds });
      }
    }),
  );
}
