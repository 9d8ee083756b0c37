import { describe, expect, it } from "vitest";
import { DependencyError } from "../../src/pkg/errors/api-error.ts";
import { DeadlineExceededError } from "../../src/pkg/errors/deadline.ts";
import { createQueuePublisher } from "../../src/pkg/queue/events.ts";

describe("a queue that does not accept a message", () => {
  // Cloudflare Queues cannot be frozen locally (Miniflare runs them in-process), so this one
  // dependency is a binding whose sends never settle.
  const hung = {
    send: () => new Promise<void>(() => {}),
    sendBatch: () => new Promise<void>(() => {}),
  } as unknown as Queue;

  it("publish and publishAll throw DependencyError after the deadline", async () => {
    const publisher = createQueuePublisher(hung, 200);
    for (const sending of [
      () => publisher.publish({ type: "system.ping", requestId: "deadline-test" }),
      () => publisher.publishAll([{ type: "system.ping", requestId: "deadline-test" }]),
    ]) {
      const error = await sending().then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toBeInstanceOf(DependencyError);
      expect((error as DependencyError).dependency).toBe("queue");
      expect((error as DependencyError).cause).toBeInstanceOf(DeadlineExceededError);
    }
  });
});
