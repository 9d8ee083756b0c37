import { describe, expect, it } from "vitest";
import {
  assertFitsInMessage,
  buildEvent,
  createNotificationPublisher,
  DocumentEventSchema,
  DocumentUploadedSchema,
  derivedEventId,
  MAX_MESSAGE_BYTES,
  MessageTooLargeError,
  NotificationRequestedSchema,
} from "../../src/pkg/queue/events.ts";
import { testEnv } from "./env.ts";

describe("queue events", () => {
  it("get an id, a time, a version and the request id", () => {
    const documentId = crypto.randomUUID();
    const event = buildEvent(DocumentUploadedSchema, {
      type: "document.uploaded",
      documentId,
      documentVersion: 1,
      requestId: "req-1",
    });
    expect(event).toMatchObject({
      type: "document.uploaded",
      documentId,
      documentVersion: 1,
      requestId: "req-1",
      version: 1,
    });
    expect(DocumentEventSchema.parse(event)).toEqual(event);
    expect(new Date(event.occurredAt).toISOString()).toBe(event.occurredAt);
  });

  it("are validated before they are sent", () => {
    expect(() =>
      buildEvent(DocumentUploadedSchema, {
        type: "document.uploaded",
        documentId: "nope",
        documentVersion: 1,
        requestId: "r",
      }),
    ).toThrow();
    expect(() =>
      buildEvent(DocumentUploadedSchema, {
        type: "document.uploaded",
        documentId: crypto.randomUUID(),
        documentVersion: 0,
        requestId: "r",
      }),
    ).toThrow();
  });

  it("must fit in a 128 KB queue message", () => {
    expect(() => assertFitsInMessage({ text: "x".repeat(MAX_MESSAGE_BYTES - 20) })).not.toThrow();
    expect(() => assertFitsInMessage({ text: "x".repeat(MAX_MESSAGE_BYTES) })).toThrow(MessageTooLargeError);
    // Counted in bytes, not characters.
    expect(() => assertFitsInMessage({ text: "é".repeat(MAX_MESSAGE_BYTES / 2) })).toThrow(MessageTooLargeError);
  });

  it("derived ids are valid UUIDs, equal for the same cause and different otherwise", async () => {
    const a = await derivedEventId("event-1", "document.ready");
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await derivedEventId("event-1", "document.ready")).toBe(a);
    expect(await derivedEventId("event-1", "document.failed")).not.toBe(a);
    // Parts are separated, so ("ab", "c") and ("a", "bc") differ.
    expect(await derivedEventId("ab", "c")).not.toBe(await derivedEventId("a", "bc"));
    expect(() => DocumentUploadedSchema.shape.id.parse(a)).not.toThrow();
  });
});

// Cloudflare Queues limits (Cloudflare docs, "Queues limits"; 1 KB is 1000 bytes there, and each
// message carries up to ~100 bytes of metadata that count toward the limits).
const SEND_BATCH_MESSAGES = 100;
const SEND_BATCH_BYTES = 256_000;
const METADATA_BYTES = 100;

const bytesOf = (body: unknown) => new TextEncoder().encode(JSON.stringify(body)).byteLength;

/**
 * The local runtime's queue (the unit worker's DOCUMENT_EVENTS producer, test/unit/worker.ts), with
 * what each `sendBatch` carried recorded before it is passed on. The local queue accepts batches
 * over Cloudflare's limits, so the recorded batches are what the test measures.
 */
function recordingQueue() {
  const queue = testEnv.DOCUMENT_EVENTS;
  const batches: unknown[][] = [];
  const binding: Queue = {
    metrics: () => queue.metrics(),
    send: (body, options) => queue.send(body, options),
    sendBatch: (messages, options) => {
      const batch = [...messages];
      batches.push(batch.map(({ body }) => body));
      return queue.sendBatch(batch, options);
    },
  };
  return { binding, batches };
}

/** A notification whose JSON is exactly `bytes` long (its `data` carries the padding). */
function notificationOf(bytes: number) {
  const input = (text: string) => ({
    type: "notification.requested" as const,
    requestId: "events-test",
    userId: "00000000-0000-4000-8000-000000000000",
    kind: "document.ready" as const,
    title: "t",
    body: "",
    data: { text },
  });
  const empty = bytesOf(buildEvent(NotificationRequestedSchema, input("")));
  return input("x".repeat(bytes - empty));
}

describe("publishing to the queue (the local runtime's queue)", () => {
  it("sends a message of MAX_MESSAGE_BYTES, and refuses one byte more before sending", async () => {
    const { binding } = recordingQueue();
    const publisher = createNotificationPublisher(binding);
    const sent = await publisher.publish(notificationOf(MAX_MESSAGE_BYTES));
    expect(bytesOf(sent)).toBe(MAX_MESSAGE_BYTES);
    // Cloudflare's 128 KB is 128,000 bytes, metadata included.
    expect(MAX_MESSAGE_BYTES + METADATA_BYTES).toBeLessThanOrEqual(128_000);
    await expect(publisher.publish(notificationOf(MAX_MESSAGE_BYTES + 1))).rejects.toThrow(MessageTooLargeError);
  });

  it("splits publishAll into sendBatch calls of at most 100 messages and 256 KB, in order", async () => {
    const { binding, batches } = recordingQueue();
    const publisher = createNotificationPublisher(binding);
    // Two of the largest messages fill a batch to the byte; the third starts the next (as one batch
    // they would be over 256 KB, which Cloudflare refuses and the local queue accepts).
    const large = await publisher.publishAll([1, 2, 3].map(() => notificationOf(MAX_MESSAGE_BYTES)));
    // Exactly 256,000 bytes with their metadata fit in one batch; one byte more does not.
    const full = await publisher.publishAll([100_000, 100_000, 55_700].map(notificationOf));
    const over = await publisher.publishAll([100_000, 100_000, 55_701].map(notificationOf));
    // Many small ones fill batches by count.
    const small = await publisher.publishAll(Array.from({ length: 250 }, () => notificationOf(400)));

    expect(batches.map((batch) => batch.length)).toEqual([2, 1, 3, 2, 1, 100, 100, 50]);
    for (const batch of batches) {
      expect(batch.length).toBeLessThanOrEqual(SEND_BATCH_MESSAGES);
      const total = batch.reduce((sum: number, body) => sum + bytesOf(body) + METADATA_BYTES, 0);
      expect(total).toBeLessThanOrEqual(SEND_BATCH_BYTES);
    }
    expect(batches.flat()).toEqual([...large, ...full, ...over, ...small]);
  });
});
