import { describe, expect, it } from "vitest";
import {
  assertFitsInMessage,
  buildEvent,
  DocumentEventSchema,
  MAX_MESSAGE_BYTES,
  MessageTooLargeError,
} from "../../src/pkg/queue/events.ts";

describe("queue events", () => {
  it("get an id, a time and the request id", () => {
    const documentId = crypto.randomUUID();
    const event = buildEvent({ type: "document.uploaded", version: 1, documentId, requestId: "req-1" });
    expect(event).toMatchObject({ type: "document.uploaded", documentId, requestId: "req-1" });
    expect(DocumentEventSchema.parse(event)).toEqual(event);
    expect(new Date(event.occurredAt).toISOString()).toBe(event.occurredAt);
  });

  it("are validated before they are sent", () => {
    expect(() => buildEvent({ type: "document.uploaded", version: 1, documentId: "nope", requestId: "r" })).toThrow();
  });

  it("must fit in a 128 KB queue message", () => {
    expect(() => assertFitsInMessage({ text: "x".repeat(MAX_MESSAGE_BYTES - 20) })).not.toThrow();
    expect(() => assertFitsInMessage({ text: "x".repeat(MAX_MESSAGE_BYTES) })).toThrow(MessageTooLargeError);
    // Counted in bytes, not characters.
    expect(() => assertFitsInMessage({ text: "é".repeat(MAX_MESSAGE_BYTES / 2) })).toThrow(MessageTooLargeError);
  });
});
