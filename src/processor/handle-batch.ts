import type { z } from "zod";
import type { Logger } from "../pkg/logger/logger.ts";
import { QUEUE_MESSAGE_AGE, QUEUE_MESSAGES, QUEUE_MESSAGES_DEAD_LETTERED } from "../pkg/metrics/catalog.ts";
import { isolateMetrics } from "../pkg/metrics/recorder.ts";
import {
  activeTraceId,
  type Context,
  contextWith,
  extractContext,
  inSpan,
  type Span,
  SpanKind,
  SpanStatusCode,
  startSpan,
  unsampled,
  withContext,
} from "../pkg/tracing/tracing.ts";
import { retryDelaySeconds } from "./backoff.ts";
import type { ProcessorServices, StepResult } from "./context.ts";

/** The handler for one event of a queue, given how many times its message was delivered. */
export type EventHandler<E> = (event: E, attempts: number, services: ProcessorServices) => Promise<StepResult>;

/**
 * One valid event of a batch, with its delivery count, its own logger, and the context of its
 * consumer span (a child of the sender's, from the event's `traceparent`): the parent of the spans
 * of work done for this event alone.
 */
export interface BatchEvent<E> {
  event: E;
  attempts: number;
  logger: Logger;
  context?: Context;
}

/**
 * The handler for all valid events of a batch at once: one result per event, in order. It decides
 * every event on its own (a failure of one must not become another's); if it throws anyway, every
 * event of the batch is retried.
 */
export type BatchHandler<E> = (events: BatchEvent<E>[], services: ProcessorServices) => Promise<StepResult[]>;

/**
 * Decides every message on its own: ack when its handler is done, retry with exponential backoff
 * when it failed transiently (the queue moves it to the dead-letter queue after `max_retries`).
 * A message that is not a valid event can never succeed, so it is acked and logged as an error.
 * `handle` is either a handler per event (the events run in parallel) or a `BatchHandler`
 * (`{ batch }`), which takes them all at once. Every message is counted by outcome
 * (`techcorp_queue_messages_total`) and its age observed; a first delivery on a dead-letter queue
 * counts as dead-lettered from its source queue.
 */
export async function handleBatch<
  S extends z.ZodType<{ id: string; type: string; requestId: string; traceparent?: string | undefined }>,
>(
  batch: MessageBatch<unknown>,
  schema: S,
  handle: EventHandler<z.infer<S>> | { batch: BatchHandler<z.infer<S>> },
  services: ProcessorServices,
): Promise<void> {
  const started = Date.now();
  const valid: (BatchEvent<z.infer<S>> & { message: Message<unknown>; span: Span })[] = [];
  const queue = batch.queue;
  const deadLetterOf = queue.endsWith("-dlq") ? queue.slice(0, -"-dlq".length) : undefined;
  // The source queue's dead-letter count exists at 0 from its first batch on, so the first dead
  // letter is an increase Prometheus sees (a series born at 1 has no increase to show).
  if (!deadLetterOf) isolateMetrics.add(QUEUE_MESSAGES_DEAD_LETTERED, { queue }, 0);
  for (const message of batch.messages) {
    isolateMetrics.observe(QUEUE_MESSAGE_AGE, { queue }, Math.max(0, started - message.timestamp.getTime()) / 1000);
    // Its first delivery on a dead-letter queue: the message ran out of retries on its source queue.
    if (deadLetterOf && message.attempts === 1)
      isolateMetrics.add(QUEUE_MESSAGES_DEAD_LETTERED, { queue: deadLetterOf });
    const parsed = schema.safeParse(message.body);
    if (!parsed.success) {
      services.logger.error("malformed message dropped", { messageId: message.id, issues: parsed.error.issues });
      message.ack();
      isolateMetrics.add(QUEUE_MESSAGES, { queue, outcome: "dropped" });
      continue;
    }
    const event = parsed.data;
    // The consumer span (OpenTelemetry messaging conventions), a child of the span that sent it. A
    // message sent outside any trace (the readiness ping of a probe, the sweeper's) starts none.
    const span = startSpan(`${queue} process`, {
      kind: SpanKind.CONSUMER,
      parent: event.traceparent ? extractContext(event) : unsampled(),
      attributes: {
        "messaging.system": "cloudflare_queues",
        "messaging.operation.type": "process",
        "messaging.destination.name": queue,
        "messaging.message.id": message.id,
        "messaging.message.delivery_attempt": message.attempts,
        "techcorp.event.type": event.type,
        "techcorp.request_id": event.requestId,
      },
    });
    const logger = services.logger.with({
      requestId: event.requestId,
      // Only a trace the sender named: an untraced message's stand-in parent joins no logs.
      traceId: event.traceparent ? activeTraceId(contextWith(span)) : undefined,
      eventId: event.id,
      eventType: event.type,
      messageId: message.id,
      attempts: message.attempts,
    });
    valid.push({ message, event, attempts: message.attempts, logger, context: contextWith(span), span });
  }
  const failed = (error: unknown, log: Logger): StepResult => {
    log.warn("handler failed", { error });
    return { outcome: "retry", reason: error instanceof Error ? error.message : String(error) };
  };
  let results: StepResult[];
  if (typeof handle === "function") {
    results = await Promise.all(
      valid.map(({ event, attempts, logger, context }) =>
        withContext(context ?? extractContext({}), () => handle(event, attempts, { ...services, logger })).catch(
          (error: unknown) => failed(error, logger),
        ),
      ),
    );
  } else {
    try {
      // Work the batch shares (one Postgres batch for all its documents) has a span of its own, in
      // a trace of its own, linked to every message's consumer span.
      // Only when a message of it is recorded: a batch of untraced pings makes no trace.
      const recorded = valid.filter(({ span }) => span.isRecording());
      results = await inSpan(
        `${queue} process batch`,
        {
          kind: SpanKind.CONSUMER,
          parent: recorded.length > 0 ? extractContext({}) : unsampled(),
          attributes: { "messaging.system": "cloudflare_queues", "messaging.batch.message_count": valid.length },
          links: recorded.map(({ span }) => ({ context: span.spanContext() })),
        },
        () => handle.batch(valid, services),
      );
    } catch (error) {
      results = valid.map(({ logger }) => failed(error, logger));
    }
  }
  valid.forEach(({ message, logger, span }, i) => {
    const result = results[i] ?? { outcome: "retry", reason: "no result" };
    if (result.outcome === "done") {
      message.ack();
      isolateMetrics.add(QUEUE_MESSAGES, { queue, outcome: "acked" });
      logger.info("message processed", { note: result.note, durationMs: Date.now() - started });
      span.setAttribute("techcorp.outcome", "acked");
    } else {
      const delaySeconds = retryDelaySeconds(message.attempts);
      message.retry({ delaySeconds });
      isolateMetrics.add(QUEUE_MESSAGES, { queue, outcome: "retried" });
      logger.warn("message retried", { reason: result.reason, delaySeconds, durationMs: Date.now() - started });
      span.setAttribute("techcorp.outcome", "retried");
      span.setStatus({ code: SpanStatusCode.ERROR, message: result.reason });
    }
    span.end();
  });
}
