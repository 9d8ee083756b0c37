import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  env,
  getQueueResult,
} from "cloudflare:test";
import { eq, sql } from "drizzle-orm";
import { asActor, batchAsActor, SYSTEM, type Transaction } from "../../src/db/actor.ts";
import { type HttpQueryBuilder, type HttpStatements, openDatabase } from "../../src/db/client.ts";
import { createDocument } from "../../src/db/queries/documents.ts";
import { pendingDeliveries, storeNotification } from "../../src/db/queries/notifications.ts";
import { insertUser } from "../../src/db/queries/users.ts";
import { documentContent, documents, documentVersions } from "../../src/db/schema/documents.ts";
import { notifications } from "../../src/db/schema/notifications.ts";
import { loadProcessorConfig } from "../../src/pkg/config/config.ts";
import { buildEvent, DocumentUploadedSchema } from "../../src/pkg/queue/events.ts";
import { createS3Storage } from "../../src/pkg/storage/storage.ts";
import worker from "../../workers/processor/index.ts";
import { sha256Hex } from "../fixtures/files.ts";

export { eventually } from "../eventually.ts";

/** Bindings the test configuration adds (see vitest.config.ts). */
export const testEnv = env as unknown as Env & { CONTROL_URL: string };
export const config = loadProcessorConfig(testEnv);
export const storage = createS3Storage(config.storage);
export const thumbnails = createS3Storage(config.storage, config.storage.thumbnailsBucket);

/** Runs `work` as the system in a transaction of its own pool (row-level security applies). */
export async function asSystem<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
  const handle = openDatabase(config.database);
  try {
    return await asActor(handle.db, SYSTEM, work);
  } finally {
    await handle.close();
  }
}

/** Runs the statements `build` returns as the system in one batch of the HTTP mode, as the app's routes do. */
export async function batchAsSystem<T extends HttpStatements>(build: (db: HttpQueryBuilder) => T) {
  const handle = openDatabase(config.database);
  try {
    return await batchAsActor(handle.http, SYSTEM, build);
  } finally {
    await handle.close();
  }
}

export async function newUser(): Promise<string> {
  const name = `proc-${crypto.randomUUID().slice(0, 12)}`;
  const user = await asSystem((tx) =>
    insertUser(tx, { email: `${name}@example.com`, username: name, passwordHash: "x", emailVerified: true }),
  );
  return user.id;
}

export interface Uploaded {
  documentId: string;
  ownerId: string;
  storageKey: string;
}

/**
 * A document as the upload route leaves it: the object stored, the document and its first version
 * recorded (pending). `store: false` records it without the object; `recordedBytes` records other
 * bytes than those stored (a tampered object).
 */
export async function uploadedDocument(
  bytes: Uint8Array | string,
  contentType: string,
  options: { store?: boolean; ownerId?: string; title?: string; recordedBytes?: Uint8Array } = {},
): Promise<Uploaded> {
  const body = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  const documentId = crypto.randomUUID();
  const ownerId = options.ownerId ?? (await newUser());
  const storageKey = `documents/${documentId}/${crypto.randomUUID()}`;
  if (options.store ?? true) {
    await storage.put(storageKey, body, { contentLength: body.length, contentType });
  }
  const recorded = options.recordedBytes ?? body;
  const sha256 = await sha256Hex(recorded);
  await asSystem((tx) =>
    createDocument(tx, {
      id: documentId,
      ownerId,
      title: options.title ?? "processor test",
      tags: [],
      file: { storageKey, contentType, sizeBytes: recorded.length, sha256, filename: null },
    }),
  );
  return { documentId, ownerId, storageKey };
}

export const uploadedEvent = (documentId: string, version = 1, requestId = "req-processor-test") =>
  buildEvent(DocumentUploadedSchema, { type: "document.uploaded", documentId, documentVersion: version, requestId });

/** Delivers `bodies` as one batch to the processor's queue handler, as the runtime would. */
export async function deliver(queue: string, bodies: unknown[], bindings: Partial<Env> & object = {}, attempts = 1) {
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
  await worker.queue(batch, { ...testEnv, ...bindings } as Env, ctx);
  return { ids: messages.map((m) => m.id), result: await getQueueResult(batch, ctx), delays };
}

export const versionOf = (documentId: string, version = 1) =>
  asSystem(async (tx) => {
    const [row] = await tx
      .select()
      .from(documentVersions)
      .where(eq(documentVersions.documentId, documentId))
      .orderBy(documentVersions.version)
      .offset(version - 1)
      .limit(1);
    return row;
  });

export const documentOf = (documentId: string) =>
  asSystem(async (tx) => (await tx.select().from(documents).where(eq(documents.id, documentId)))[0]);

export const contentOf = (documentId: string) =>
  asSystem(
    async (tx) => (await tx.select().from(documentContent).where(eq(documentContent.documentId, documentId)))[0],
  );

export const notificationsOf = (userId: string) =>
  asSystem((tx) => tx.select().from(notifications).where(eq(notifications.userId, userId)));

/** Runs the processor's cron handler (the sweeper) as the runtime would, at `at`. */
export async function runSweep(at: Date = new Date()) {
  const controller = createScheduledController({ scheduledTime: at, cron: "*/10 * * * *" });
  await worker.scheduled(controller, testEnv, createExecutionContext());
}

/** Whether some session waits for a lock right now (for tests that interleave transactions). */
export const someoneWaits = () =>
  asSystem(async (tx) => {
    const result = await tx.execute<{ waiting: number }>(
      sql`select count(*)::int as waiting from pg_locks where not granted`,
    );
    return (result.rows[0]?.waiting ?? 0) > 0 ? true : undefined;
  });

/** A stored notification with a pending delivery to `webhookId`, made directly (no queue involved). */
export async function pendingDelivery(userId: string, webhookId: string): Promise<string> {
  return asSystem(async (tx) => {
    const { notification } = await storeNotification(tx, {
      userId,
      type: "document.ready",
      title: "t",
      body: "b",
      data: {},
      eventId: crypto.randomUUID(),
    });
    const [delivery] = await pendingDeliveries(tx, { notification, webhookIds: [webhookId] });
    if (!delivery) throw new Error("no delivery");
    return delivery.id;
  });
}
