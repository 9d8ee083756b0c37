import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openDatabase } from "../../src/db/client.ts";
import { getDocument, insertDocument } from "../../src/db/queries/documents.ts";
import type { Document } from "../../src/db/schema/documents.ts";
import { loadProcessorConfig } from "../../src/pkg/config/config.ts";
import { buildEvent, type DocumentEvent } from "../../src/pkg/queue/events.ts";
import { createS3Storage } from "../../src/pkg/storage/storage.ts";
import { BASE_DELAY_SECONDS } from "../../src/processor/backoff.ts";
import worker from "../../workers/processor/index.ts";

const testEnv = env;
const config = loadProcessorConfig(testEnv);
const storage = createS3Storage(config.storage);

async function withDb<T>(run: (db: ReturnType<typeof openDatabase>["db"]) => Promise<T>): Promise<T> {
  const handle = openDatabase(config.database);
  try {
    return await run(handle.db);
  } finally {
    await handle.close();
  }
}

/** A pending document as the upload route leaves it: object stored, row written. */
async function pendingDocument(options: { store?: boolean; content?: string } = {}): Promise<Document> {
  const id = crypto.randomUUID();
  const content = options.content ?? "some content";
  const storageKey = `documents/${id}/v1`;
  if (options.store ?? true) {
    await storage.put(storageKey, content, { contentLength: content.length, contentType: "text/plain" });
  }
  return withDb((db) =>
    insertDocument(db, {
      id,
      title: "processor test",
      contentType: "text/plain",
      sizeBytes: content.length,
      sha256: "0".repeat(64),
      storageKey,
    }),
  );
}

const uploaded = (documentId: string, requestId = "req-processor-test") =>
  buildEvent({ type: "document.uploaded", version: 1, documentId, requestId });

async function deliver(queue: string, bodies: unknown[], bindings: Partial<Env> = {}, attempts = 1) {
  const messages = bodies.map((body) => ({ id: crypto.randomUUID(), timestamp: new Date(), attempts, body }));
  const batch = createMessageBatch(queue, messages);
  // The harness records that a message was retried but not its options; keep the delays here.
  const delays = new Map<string, number | undefined>();
  for (const message of batch.messages) {
    const retry = message.retry.bind(message);
    message.retry = (options?: QueueRetryOptions) => {
      delays.set(message.id, options?.delaySeconds);
      retry(options);
    };
  }
  const ctx = createExecutionContext();
  await worker.queue(batch, { ...testEnv, ...bindings });
  return { ids: messages.map((m) => m.id), result: await getQueueResult(batch, ctx), delays };
}

const statusOf = (id: string) => withDb((db) => getDocument(db, { id }));

afterEach(() => vi.restoreAllMocks());

describe("document.uploaded", () => {
  it("marks a stored document ready and acks", async () => {
    const doc = await pendingDocument();
    const { ids, result } = await deliver("document-events", [uploaded(doc.id)]);
    expect(result.explicitAcks).toEqual(ids);
    expect(result.retryMessages).toEqual([]);
    const after = await statusOf(doc.id);
    expect(after?.status).toBe("ready");
    expect(after?.processedAt).toBeInstanceOf(Date);
  });

  it("does nothing twice: a redelivered message is acked and changes nothing", async () => {
    const doc = await pendingDocument();
    const event = uploaded(doc.id);
    await deliver("document-events", [event]);
    const first = await statusOf(doc.id);
    const { result } = await deliver("document-events", [event, event], {}, 2);
    expect(result.explicitAcks).toHaveLength(2);
    expect(await statusOf(doc.id)).toEqual(first);
  });

  it("fails a document whose stored object is missing, with the reason", async () => {
    const doc = await pendingDocument({ store: false });
    const { result } = await deliver("document-events", [uploaded(doc.id)]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(await statusOf(doc.id)).toMatchObject({ status: "failed", failureReason: "the stored object is missing" });
  });

  it("acks an event for a document that no longer exists", async () => {
    const { result } = await deliver("document-events", [uploaded(crypto.randomUUID())]);
    expect(result.explicitAcks).toHaveLength(1);
  });

  it("decides each message of a batch on its own", async () => {
    const ok = await pendingDocument();
    const missing = await pendingDocument({ store: false });
    const { ids, result } = await deliver("document-events", [
      uploaded(ok.id),
      { type: "nonsense" },
      uploaded(missing.id),
    ]);
    expect(new Set(result.explicitAcks)).toEqual(new Set(ids));
    expect((await statusOf(ok.id))?.status).toBe("ready");
    expect((await statusOf(missing.id))?.status).toBe("failed");
  });

  it("retries with exponential backoff when the database is unreachable", async () => {
    // Nothing listens on port 1 (and the local Neon proxy refuses it): the database is unreachable.
    const unreachable = { DATABASE_URL: testEnv.DATABASE_URL.replace(/:\d+\//, ":1/") };
    for (const attempts of [1, 3]) {
      const { ids, result, delays } = await deliver(
        "document-events",
        [uploaded(crypto.randomUUID())],
        unreachable,
        attempts,
      );
      expect(result.explicitAcks).toEqual([]);
      expect(result.retryMessages).toEqual([{ msgId: ids[0] }]);
      const full = BASE_DELAY_SECONDS * 2 ** (attempts - 1);
      const delay = delays.get(ids[0] ?? "");
      expect(delay).toBeGreaterThanOrEqual(full / 2);
      expect(delay).toBeLessThanOrEqual(full);
    }
  });

  it("logs with the request id of the upload", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const doc = await pendingDocument();
    await deliver("document-events", [uploaded(doc.id, "req-from-upload")], { LOG_LEVEL: "info" });
    const processed = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.message === "message processed");
    expect(processed).toMatchObject({ requestId: "req-from-upload", eventType: "document.uploaded", note: "ready" });
  });
});

describe("dead-letter queue", () => {
  it("ends a document in transit as failed, with the reason", async () => {
    const doc = await pendingDocument();
    const { result } = await deliver("document-events-dlq", [uploaded(doc.id)], {}, 6);
    expect(result.explicitAcks).toHaveLength(1);
    expect(await statusOf(doc.id)).toMatchObject({
      status: "failed",
      failureReason: "processing did not succeed after 6 deliveries",
    });
  });

  it("leaves a document that already finished alone", async () => {
    const doc = await pendingDocument();
    await deliver("document-events", [uploaded(doc.id)]);
    await deliver("document-events-dlq", [uploaded(doc.id)]);
    expect((await statusOf(doc.id))?.status).toBe("ready");
  });
});

describe("other messages", () => {
  it("acks pings", async () => {
    const ping: DocumentEvent = buildEvent({ type: "system.ping", version: 1, requestId: "ready-check" });
    const { result } = await deliver("document-events", [ping]);
    expect(result.explicitAcks).toHaveLength(1);
  });

  it("acks and logs a malformed message instead of retrying it forever", async () => {
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: unknown) => void errors.push(String(line)));
    const { result } = await deliver("document-events", [{ type: "document.uploaded", documentId: "not-a-uuid" }]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(errors.some((line) => line.includes("malformed message dropped"))).toBe(true);
  });

  it("retries the whole batch when its configuration is invalid (fails closed)", async () => {
    const messages = [{ id: "m1", timestamp: new Date(), attempts: 1, body: uploaded(crypto.randomUUID()) }];
    const batch = createMessageBatch("document-events", messages);
    const ctx = createExecutionContext();
    await expect(worker.queue(batch, { ...testEnv, DATABASE_URL: "" })).rejects.toThrow(/DATABASE_URL/);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual([]);
  });
});
