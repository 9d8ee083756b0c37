import { describe, expect, it } from "vitest";
import {
  assertFitsInMessage,
  buildEvent,
  DocumentEventSchema,
  DocumentUploadedSchema,
  derivedEventId,
  MAX_MESSAGE_BYTES,
  MessageTooLargeError,
} from "../../src/pkg/queue/events.ts";

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
