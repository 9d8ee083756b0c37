import type { z } from "zod";
import { retryDelaySeconds } from "./backoff.ts";
import type { ProcessorServices, StepResult } from "./context.ts";

/** The handler for one event of a queue, given how many times its message was delivered. */
export type EventHandler<E> = (event: E, attempts: number, services: ProcessorServices) => Promise<StepResult>;

/**
 * Decides every message on its own: ack when its handler is done, retry with exponential backoff
 * when it failed transiently (the queue moves it to the dead-letter queue after `max_retries`).
 * A message that is not a valid event can never succeed, so it is acked and logged as an error.
 */
export async function handleBatch<S extends z.ZodType<{ id: string; type: string; requestId: string }>>(
  batch: MessageBatch<unknown>,
  schema: S,
  handle: EventHandler<z.infer<S>>,
  services: ProcessorServices,
): Promise<void> {
  await Promise.all(
    batch.messages.map(async (message) => {
      const parsed = schema.safeParse(message.body);
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
      const started = Date.now();
      let result: StepResult;
      try {
        result = await handle(event, message.attempts, { ...services, logger: log });
      } catch (error) {
        log.warn("handler failed", { error });
        result = { outcome: "retry", reason: error instanceof Error ? error.message : String(error) };
      }
      if (result.outcome === "done") {
        message.ack();
        log.info("message processed", { note: result.note, durationMs: Date.now() - started });
      } else {
        const delaySeconds = retryDelaySeconds(message.attempts);
        message.retry({ delaySeconds });
        log.warn("message retried", { reason: result.reason, delaySeconds, durationMs: Date.now() - started });
      }
    }),
  );
}
