import { z } from "zod";
import { DependencyError } from "../errors/api-error.ts";

/** Cloudflare Queues refuses messages over 128 KB; events carry ids, never file contents. */
export const MAX_MESSAGE_BYTES = 128 * 1024;

const envelope = {
  /** Unique per event; consumers use it to recognise a redelivery. */
  id: z.uuid(),
  /** The request that caused the event, so the processor's logs join the API's. */
  requestId: z.string().min(1).max(255),
  occurredAt: z.iso.datetime(),
};

export const DocumentUploadedSchema = z.object({
  ...envelope,
  type: z.literal("document.uploaded"),
  version: z.literal(1),
  documentId: z.uuid(),
});

/** Sent by `GET /ready` to prove the producer binding works; the processor acks it. */
export const SystemPingSchema = z.object({
  ...envelope,
  type: z.literal("system.ping"),
  version: z.literal(1),
});

export const DocumentEventSchema = z.discriminatedUnion("type", [DocumentUploadedSchema, SystemPingSchema]);

export type DocumentUploaded = z.infer<typeof DocumentUploadedSchema>;
export type DocumentEvent = z.infer<typeof DocumentEventSchema>;

/** Distributes `Omit` over the union so each event keeps its own fields. */
type EventInput<E> = E extends DocumentEvent ? Omit<E, "id" | "occurredAt"> : never;

export class MessageTooLargeError extends Error {
  constructor(bytes: number) {
    super(`queue message of ${bytes} bytes exceeds the ${MAX_MESSAGE_BYTES}-byte limit`);
    this.name = "MessageTooLargeError";
  }
}

/** Throws unless `body`, as JSON, fits in one queue message. */
export function assertFitsInMessage(body: unknown): void {
  const bytes = new TextEncoder().encode(JSON.stringify(body)).byteLength;
  if (bytes > MAX_MESSAGE_BYTES) throw new MessageTooLargeError(bytes);
}

/** Completes an event with its id and time, validates it and checks the size limit. */
export function buildEvent(input: EventInput<DocumentEvent>): DocumentEvent {
  const event = DocumentEventSchema.parse({ ...input, id: crypto.randomUUID(), occurredAt: new Date().toISOString() });
  assertFitsInMessage(event);
  return event;
}

export interface EventPublisher {
  publish(input: EventInput<DocumentEvent>): Promise<DocumentEvent>;
}

/** Publishes to a Cloudflare Queue producer binding. */
export function createQueuePublisher(queue: Queue<DocumentEvent>): EventPublisher {
  return {
    async publish(input) {
      const event = buildEvent(input);
      try {
        await queue.send(event, { contentType: "json" });
      } catch (error) {
        throw new DependencyError("queue", error);
      }
      return event;
    },
  };
}
