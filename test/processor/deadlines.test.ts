import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { createWebhook, markWebhookVerified } from "../../src/db/queries/notifications.ts";
import { webhookDeliveries } from "../../src/db/schema/notifications.ts";
import { generateWebhookSecret, WEBHOOK_SECRET_PURPOSE } from "../../src/notifications/webhook-signature.ts";
import { loadProcessorConfig } from "../../src/pkg/config/config.ts";
import { createSecretBox } from "../../src/pkg/crypto/secret-box.ts";
import { DependencyError } from "../../src/pkg/errors/api-error.ts";
import { DeadlineExceededError } from "../../src/pkg/errors/deadline.ts";
import { buildEvent, WebhookDeliverySchema } from "../../src/pkg/queue/events.ts";
import { createS3Storage } from "../../src/pkg/storage/storage.ts";
import { createClamd, ScannerUnavailableError } from "../../src/pkg/virus-scan/clamd.ts";
import {
  asSystem,
  config,
  deliver,
  newUser,
  pendingDelivery,
  testEnv,
  uploadedDocument,
  uploadedEvent,
  versionOf,
} from "./helpers.ts";

// Every call the processor makes has a deadline (README, "Deadlines"): a hung clamd, S3 or webhook
// endpoint makes the message retry soon, instead of holding it until the queue's wall-clock limit.
// clamd and S3 are those of the outage stack, frozen with SIGSTOP for far longer than the deadline
// configured here; the freeze ends by itself after FREEZE_MS (and in afterEach).

const DEADLINE_MS = 1_000;
const FREEZE_MS = 20_000;

const env = testEnv as unknown as Env & { CONTROL_URL: string; OUTAGE_STACK: Record<string, string> };
const outageEnv = env.OUTAGE_STACK;

type Frozen = "clamd" | "s3";
const frozen = new Set<Frozen>();
const thawTimers: ReturnType<typeof setTimeout>[] = [];

async function control(service: Frozen, action: "pause" | "resume"): Promise<void> {
  const res = await fetch(`${env.CONTROL_URL}/outage/${service}/${action}`, { method: "POST" });
  if (res.status !== 204) throw new Error(`could not ${action} ${service}: ${res.status} ${await res.text()}`);
}

async function thaw(service: Frozen): Promise<void> {
  if (frozen.delete(service)) await control(service, "resume");
}

async function freeze(service: Frozen): Promise<void> {
  frozen.add(service);
  await control(service, "pause");
  thawTimers.push(setTimeout(() => void thaw(service), FREEZE_MS));
}

afterEach(async () => {
  for (const timer of thawTimers.splice(0)) clearTimeout(timer);
  for (const service of [...frozen]) await thaw(service);
});

async function timed<T>(work: () => Promise<T>): Promise<T & { elapsedMs: number }> {
  const started = Date.now();
  const result = await work();
  return { ...result, elapsedMs: Date.now() - started };
}

describe("the document pipeline", () => {
  it("retries soon when clamd is frozen, and records why", async () => {
    const doc = await uploadedDocument("a document to scan\n", "text/plain");
    await freeze("clamd");
    const { ids, result, elapsedMs } = await timed(() =>
      deliver("document-events", [uploadedEvent(doc.documentId)], {
        CLAMD_ADDRESS: outageEnv.CLAMD_ADDRESS ?? "",
        CLAMD_TIMEOUT_MS: String(DEADLINE_MS),
      } as Partial<Env>),
    );
    expect(elapsedMs).toBeLessThan(FREEZE_MS);
    expect(result.retryMessages).toEqual([{ msgId: ids[0] }]);
    const version = await versionOf(doc.documentId);
    expect(version?.status).toBe("scanning");
    expect(version?.scanResult).toBeNull();
    expect(version?.failureDetail).toContain("clamd");
  });

  it("retries soon when S3 is frozen", async () => {
    // The object lives in the outage stack's S3, which the processor is pointed at.
    const outageStorage = createS3Storage(loadProcessorConfig({ ...env, ...outageEnv }).storage);
    const doc = await uploadedDocument("a document in a frozen store\n", "text/plain", { store: false });
    const bytes = new TextEncoder().encode("a document in a frozen store\n");
    await outageStorage.put(doc.storageKey, bytes, { contentLength: bytes.length, contentType: "text/plain" });
    await freeze("s3");
    const { ids, result, elapsedMs } = await timed(() =>
      deliver("document-events", [uploadedEvent(doc.documentId)], {
        S3_ENDPOINT: outageEnv.S3_ENDPOINT ?? "",
        S3_TIMEOUT_MS: String(DEADLINE_MS),
      } as Partial<Env>),
    );
    expect(elapsedMs).toBeLessThan(FREEZE_MS);
    expect(result.retryMessages).toEqual([{ msgId: ids[0] }]);
    expect((await versionOf(doc.documentId))?.failureDetail).toContain("storage");
  });
});

describe("the clamd client", () => {
  it("reports an address it cannot even try as unavailable, like one that does not answer", async () => {
    // Nothing can listen on a port above 65535: connect() refuses it before any I/O.
    for (const address of ["127.0.0.1:65536", "127.0.0.1:1"]) {
      await expect(createClamd({ address, timeoutMs: DEADLINE_MS }).ping()).rejects.toThrow(ScannerUnavailableError);
    }
  });

  it("gives up on a frozen clamd after the deadline of one step", async () => {
    await freeze("clamd");
    const started = Date.now();
    const error = await createClamd({ address: outageEnv.CLAMD_ADDRESS ?? "", timeoutMs: DEADLINE_MS })
      .ping()
      .then(
        () => undefined,
        (failure: unknown) => failure,
      );
    expect(Date.now() - started).toBeLessThan(FREEZE_MS);
    expect(error).toBeInstanceOf(ScannerUnavailableError);
    expect((error as ScannerUnavailableError).cause).toBeInstanceOf(DeadlineExceededError);
  });
});

describe("object storage", () => {
  it("errors a body that stops arriving, within the deadline, instead of waiting for S3", async () => {
    const storage = createS3Storage(
      loadProcessorConfig({ ...env, ...outageEnv, S3_TIMEOUT_MS: String(DEADLINE_MS) }).storage,
    );
    // Larger than what loopback socket buffers and the runtime read ahead can hold. Stored under the
    // usual deadline: 48 MiB may take longer than the short one on a busy machine, and only the
    // read below is under test.
    const size = 48 * 1024 * 1024;
    const key = `deadlines/${crypto.randomUUID()}`;
    const part = new Uint8Array(size);
    const setup = createS3Storage(loadProcessorConfig({ ...env, ...outageEnv }).storage);
    await setup.put(key, part, { contentLength: size, contentType: "application/octet-stream" });
    const object = await storage.get(key);
    if (!object) throw new Error("the object was not stored");
    const reader = object.body.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    await freeze("s3");
    const started = Date.now();
    let received = first.value?.length ?? 0;
    const outcome = await (async () => {
      for (;;) {
        const next = await reader.read();
        if (next.done) return "complete";
        received += next.value.length;
      }
    })().catch((error: unknown) => error);
    expect(Date.now() - started).toBeLessThan(FREEZE_MS);
    expect(received).toBeLessThan(size);
    expect(outcome).toBeInstanceOf(DependencyError);
    expect((outcome as DependencyError).cause).toBeInstanceOf(DeadlineExceededError);
  });
});

describe("webhook deliveries", () => {
  it("retry within the configured deadline when the endpoint accepts the request and never answers", async () => {
    const userId = await newUser();
    // stack/control.ts: /stall/… never answers.
    const url = `${env.CONTROL_URL}/stall/hook-${crypto.randomUUID().slice(0, 8)}`;
    const box = await createSecretBox(config.encryptionKey, WEBHOOK_SECRET_PURPOSE);
    const webhook = await asSystem(async (tx) => {
      const created = await createWebhook(tx, {
        userId,
        url,
        secretCiphertext: await box.seal(generateWebhookSecret()),
        events: [],
      });
      // Only endpoints that echoed the verification challenge get deliveries.
      await markWebhookVerified(tx, { userId, id: created.id, url });
      return created;
    });
    const deliveryId = await pendingDelivery(userId, webhook.id);
    const message = buildEvent(WebhookDeliverySchema, { type: "webhook.deliver", requestId: "r", deliveryId });
    const { ids, result, elapsedMs } = await timed(() =>
      deliver("notifications", [message], { WEBHOOK_TIMEOUT_MS: String(DEADLINE_MS) } as Partial<Env>),
    );
    // The endpoint never answers, so the bound is the configured deadline plus a wide margin, below
    // the 10 s default that applies when the setting is ignored.
    expect(elapsedMs).toBeLessThan(DEADLINE_MS + 7_000);
    expect(result.retryMessages).toEqual([{ msgId: ids[0] }]);
    const [delivery] = await asSystem((tx) =>
      tx.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, deliveryId)),
    );
    expect(delivery).toMatchObject({ status: "pending", attempts: 1, responseStatus: null });
    expect(delivery?.lastError).toBe(`the endpoint did not answer within ${DEADLINE_MS} ms`);
  });
});
