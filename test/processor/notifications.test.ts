import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { createWebhook, markWebhookVerified } from "../../src/db/queries/notifications.ts";
import { webhookDeliveries, webhooks } from "../../src/db/schema/notifications.ts";
import { generateWebhookSecret, WEBHOOK_SECRET_PURPOSE } from "../../src/notifications/webhook-signature.ts";
import { createSecretBox } from "../../src/pkg/crypto/secret-box.ts";
import { buildEvent, NotificationRequestedSchema, WebhookDeliverySchema } from "../../src/pkg/queue/events.ts";
import { BASE_DELAY_SECONDS } from "../../src/processor/backoff.ts";
import { corruptPdf } from "../fixtures/files.ts";
import {
  asSystem,
  config,
  deliver,
  eventually,
  newUser,
  notificationsOf,
  pendingDelivery,
  testEnv,
  uploadedDocument,
  uploadedEvent,
} from "./helpers.ts";

interface Captured {
  method: string;
  headers: Record<string, string>;
  body: string;
}

/** A webhook receiver of the test stack: its URL, what it received, and what it should answer. */
function sink() {
  const name = `hook-${crypto.randomUUID().slice(0, 8)}`;
  const url = `${testEnv.CONTROL_URL}/hooks/${name}`;
  return {
    url,
    received: async () => (await (await fetch(url)).json()) as Captured[],
    /** Statuses, or `{ status, headers?, bodyBytes? }` (stack/control.ts). */
    answerWith: async (answers: unknown[]) => {
      await fetch(`${url}/answers`, { method: "PUT", body: JSON.stringify(answers) });
    },
  };
}

/** A webhook as the API leaves it; verified (its endpoint echoed the challenge) unless told otherwise. */
async function registerWebhook(userId: string, url: string, events: string[] = [], verified = true) {
  const secret = generateWebhookSecret();
  const box = await createSecretBox(config.encryptionKey, WEBHOOK_SECRET_PURPOSE);
  const webhook = await asSystem(async (tx) => {
    const created = await createWebhook(tx, { userId, url, secretCiphertext: await box.seal(secret), events });
    return verified ? ((await markWebhookVerified(tx, { userId, id: created.id, url })) ?? created) : created;
  });
  return { webhook, secret };
}

const requested = (userId: string, kind: "document.ready" | "document.failed" = "document.ready") =>
  buildEvent(NotificationRequestedSchema, {
    type: "notification.requested",
    requestId: "req-notify-test",
    userId,
    kind,
    title: "“Plan” is ready",
    body: "Version 1 was scanned, indexed and is available.",
    data: { documentId: crypto.randomUUID(), version: 1 },
  });

const deliveriesOf = (webhookId: string) =>
  asSystem((tx) => tx.select().from(webhookDeliveries).where(eq(webhookDeliveries.webhookId, webhookId)));

/** Verifies a Standard Webhooks signature independently of the code under test. */
async function verify(secret: string, headers: Record<string, string>, body: string): Promise<boolean> {
  const key = await crypto.subtle.importKey(
    "raw",
    Uint8Array.from(atob(secret.replace(/^whsec_/, "")), (c) => c.charCodeAt(0)),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const signed = `${headers["webhook-id"]}.${headers["webhook-timestamp"]}.${body}`;
  return Promise.any(
    (headers["webhook-signature"] ?? "").split(" ").map(async (entry) => {
      const [version, mac] = entry.split(",");
      if (version !== "v1" || !mac) throw new Error("not v1");
      const ok = await crypto.subtle.verify(
        "HMAC",
        key,
        Uint8Array.from(atob(mac), (c) => c.charCodeAt(0)),
        new TextEncoder().encode(signed),
      );
      if (!ok) throw new Error("bad signature");
      return true;
    }),
  ).catch(() => false);
}

describe("the Notification Service", () => {
  it("stores an in-app notification once however often the event arrives", async () => {
    const userId = await newUser();
    const event = requested(userId);
    await deliver("notifications", [event, event]);
    await deliver("notifications", [event], {}, 2);
    const rows = await notificationsOf(userId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ type: "document.ready", eventId: event.id, readAt: null });
  });

  it("acks an event for a user who no longer exists", async () => {
    const { result } = await deliver("notifications", [requested(crypto.randomUUID())]);
    expect(result.explicitAcks).toHaveLength(1);
  });

  it("stores a batch's notifications together; an event for a user who no longer exists fails alone", async () => {
    const [first, second] = [await newUser(), await newUser()];
    const receiver = sink();
    const { webhook } = await registerWebhook(first, receiver.url);
    const ofFirst = requested(first);
    const events = [ofFirst, requested(second), requested(crypto.randomUUID()), ofFirst, requested(first)];
    const { result } = await deliver("notifications", events);
    expect(result.explicitAcks).toHaveLength(events.length);
    expect(result.retryMessages).toEqual([]);
    expect((await notificationsOf(first)).map((row) => row.eventId).sort()).toEqual([ofFirst.id, events[4]?.id].sort());
    expect(await notificationsOf(second)).toHaveLength(1);
    // Stored event by event (the batch was refused), the duplicate still queued nothing more.
    await eventually(async () => {
      const rows = await deliveriesOf(webhook.id);
      return rows.length === 2 && rows.every((row) => row.status === "delivered") ? rows : undefined;
    });
    expect(await receiver.received()).toHaveLength(2);
  });

  it("queues one delivery per webhook and notification from a batch, duplicates included", async () => {
    const userId = await newUser();
    const receiver = sink();
    const { webhook } = await registerWebhook(userId, receiver.url);
    const [one, two] = [requested(userId), requested(userId, "document.failed")];
    await deliver("notifications", [one, two, one]);
    const delivered = await eventually(async () => {
      const rows = await deliveriesOf(webhook.id);
      return rows.length === 2 && rows.every((row) => row.status === "delivered") ? rows : undefined;
    });
    expect(delivered.map((row) => row.attempts)).toEqual([1, 1]);
    // The duplicate queued nothing more: two requests reached the receiver, not three.
    expect(await receiver.received()).toHaveLength(2);
  });

  it("delivers to subscribed webhooks, signed with HMAC-SHA256 (Standard Webhooks)", async () => {
    const userId = await newUser();
    const receiver = sink();
    const other = sink();
    const { webhook, secret } = await registerWebhook(userId, receiver.url, ["document.ready"]);
    const { webhook: failedOnly } = await registerWebhook(userId, other.url, ["document.failed"]);
    const event = requested(userId);
    await deliver("notifications", [event]);

    // The delivery message goes through the real queue to the processor.
    const [request] = await eventually(async () => {
      const received = await receiver.received();
      return received.length > 0 ? received : undefined;
    });
    if (!request) throw new Error("nothing received");
    expect(request.method).toBe("POST");
    expect(request.headers["content-type"]).toBe("application/json");
    expect(await verify(secret, request.headers, request.body)).toBe(true);
    expect(await verify(generateWebhookSecret(), request.headers, request.body)).toBe(false);
    expect(Math.abs(Number(request.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(300);
    const payload = JSON.parse(request.body) as { type: string; data: Record<string, unknown> };
    expect(payload.type).toBe("document.ready");
    expect(payload.data).toMatchObject({ title: "“Plan” is ready", version: 1 });

    const [delivery] = await eventually(async () => {
      const rows = await deliveriesOf(webhook.id);
      return rows[0]?.status === "delivered" ? rows : undefined;
    });
    expect(delivery).toMatchObject({ attempts: 1, responseStatus: 204, lastError: null });
    expect(request.headers["webhook-id"]).toBe(delivery?.id);
    // Not subscribed to document.ready: nothing queued, nothing sent.
    expect(await deliveriesOf(failedOnly.id)).toEqual([]);
    expect(await other.received()).toEqual([]);
  });

  it("sends a failed version's reason code to webhooks, never the operator's detail", async () => {
    const doc = await uploadedDocument(corruptPdf(), "application/pdf");
    const receiver = sink();
    await registerWebhook(doc.ownerId, receiver.url, ["document.failed"]);
    await deliver("document-events", [uploadedEvent(doc.documentId)]);
    const [request] = await eventually(async () => {
      const received = await receiver.received();
      return received.length > 0 ? received : undefined;
    });
    const payload = JSON.parse(request?.body ?? "{}") as { type: string; data: Record<string, unknown> };
    expect(payload).toMatchObject({
      type: "document.failed",
      data: { documentId: doc.documentId, version: 1, reason: "unsupported_content" },
    });
    // The parser's message stays with operators (the version's failure_detail).
    expect(request?.body).not.toContain("could not be read");
  });

  it("retries a failing endpoint with backoff, and gives up after the retry limit", async () => {
    const userId = await newUser();
    const receiver = sink();
    await receiver.answerWith([500, 503]);
    const { webhook } = await registerWebhook(userId, receiver.url);
    const deliveryId = await pendingDelivery(userId, webhook.id);
    const message = buildEvent(WebhookDeliverySchema, { type: "webhook.deliver", requestId: "r", deliveryId });

    for (const attempts of [1, 2]) {
      const { ids, result, delays } = await deliver("notifications", [message], {}, attempts);
      expect(result.retryMessages).toEqual([{ msgId: ids[0] }]);
      expect(delays.get(ids[0] ?? "")).toBeGreaterThanOrEqual((BASE_DELAY_SECONDS * 2 ** (attempts - 1)) / 2);
    }
    const [afterTwo] = await deliveriesOf(webhook.id);
    expect(afterTwo).toMatchObject({
      status: "pending",
      attempts: 2,
      responseStatus: 503,
      lastError: "the endpoint answered 503",
    });
    expect(await receiver.received()).toHaveLength(2);

    const { result: dead } = await deliver("notifications-dlq", [message]);
    expect(dead.explicitAcks).toHaveLength(1);
    const [failed] = await deliveriesOf(webhook.id);
    expect(failed?.status).toBe("failed");
    expect(failed?.lastError).toBe("gave up after the retry limit: the endpoint answered 503");
    // Finished: a late redelivery sends nothing more.
    await deliver("notifications", [message], {}, 9);
    expect(await receiver.received()).toHaveLength(2);
  });

  it("delivers on a later attempt once the endpoint recovers", async () => {
    const userId = await newUser();
    const receiver = sink();
    await receiver.answerWith([502]);
    const { webhook } = await registerWebhook(userId, receiver.url);
    const deliveryId = await pendingDelivery(userId, webhook.id);
    const message = buildEvent(WebhookDeliverySchema, { type: "webhook.deliver", requestId: "r", deliveryId });
    expect((await deliver("notifications", [message])).result.retryMessages).toHaveLength(1);
    expect((await deliver("notifications", [message], {}, 2)).result.explicitAcks).toHaveLength(1);
    expect((await deliveriesOf(webhook.id))[0]).toMatchObject({
      status: "delivered",
      attempts: 2,
      responseStatus: 204,
    });
    const received = await receiver.received();
    // The same webhook-id on every attempt, so the receiver can deduplicate.
    expect(received.map((r) => r.headers["webhook-id"])).toEqual([deliveryId, deliveryId]);
  });

  it("does not send to a disabled webhook", async () => {
    const userId = await newUser();
    const receiver = sink();
    const { webhook } = await registerWebhook(userId, receiver.url);
    const deliveryId = await pendingDelivery(userId, webhook.id);
    await asSystem((tx) => tx.update(webhooks).set({ active: false }).where(eq(webhooks.id, webhook.id)));
    const message = buildEvent(WebhookDeliverySchema, { type: "webhook.deliver", requestId: "r", deliveryId });
    await deliver("notifications", [message]);
    expect(await receiver.received()).toEqual([]);
    expect((await deliveriesOf(webhook.id))[0]).toMatchObject({
      status: "failed",
      lastError: "the webhook is disabled",
    });
  });

  it("queues nothing for, and sends nothing to, an endpoint that never echoed the challenge", async () => {
    const userId = await newUser();
    const receiver = sink();
    const { webhook } = await registerWebhook(userId, receiver.url, [], false);
    await deliver("notifications", [requested(userId)]);
    expect(await deliveriesOf(webhook.id)).toEqual([]);
    // A delivery queued before its URL changed (which unverifies it) is not sent either.
    const deliveryId = await pendingDelivery(userId, webhook.id);
    const message = buildEvent(WebhookDeliverySchema, { type: "webhook.deliver", requestId: "r", deliveryId });
    expect((await deliver("notifications", [message])).result.explicitAcks).toHaveLength(1);
    expect(await receiver.received()).toEqual([]);
    expect((await deliveriesOf(webhook.id))[0]).toMatchObject({
      status: "failed",
      lastError: "the webhook's endpoint is not verified",
    });
  });

  it("stops on 410 Gone: no retry, the delivery failed and the webhook disabled", async () => {
    const userId = await newUser();
    const receiver = sink();
    await receiver.answerWith([410]);
    const { webhook } = await registerWebhook(userId, receiver.url);
    const deliveryId = await pendingDelivery(userId, webhook.id);
    const message = buildEvent(WebhookDeliverySchema, { type: "webhook.deliver", requestId: "r", deliveryId });
    const { result } = await deliver("notifications", [message]);
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks).toHaveLength(1);
    expect((await deliveriesOf(webhook.id))[0]).toMatchObject({
      status: "failed",
      attempts: 1,
      responseStatus: 410,
      lastError: "the endpoint answered 410 Gone; the webhook was disabled",
    });
    const [hook] = await asSystem((tx) => tx.select().from(webhooks).where(eq(webhooks.id, webhook.id)));
    expect(hook?.active).toBe(false);
    // Disabled: the next event queues nothing for it.
    await deliver("notifications", [requested(userId)]);
    expect(await deliveriesOf(webhook.id)).toHaveLength(1);
  });

  it("does not follow redirects: a 3xx is retried, and its target never hears of it", async () => {
    const userId = await newUser();
    const receiver = sink();
    const target = sink();
    await receiver.answerWith([{ status: 308, headers: { location: target.url } }]);
    const { webhook } = await registerWebhook(userId, receiver.url);
    const deliveryId = await pendingDelivery(userId, webhook.id);
    const message = buildEvent(WebhookDeliverySchema, { type: "webhook.deliver", requestId: "r", deliveryId });
    const { ids, result } = await deliver("notifications", [message]);
    expect(result.retryMessages).toEqual([{ msgId: ids[0] }]);
    expect(await target.received()).toEqual([]);
    expect((await deliveriesOf(webhook.id))[0]).toMatchObject({
      status: "pending",
      responseStatus: 308,
      lastError: "the endpoint answered 308 (redirects are not followed)",
    });
  });

  it("does not read a receiver's answer: a huge body neither stalls nor fails the delivery", async () => {
    const userId = await newUser();
    const receiver = sink();
    await receiver.answerWith([{ status: 200, bodyBytes: 50_000_000 }]);
    const { webhook } = await registerWebhook(userId, receiver.url);
    const deliveryId = await pendingDelivery(userId, webhook.id);
    const message = buildEvent(WebhookDeliverySchema, { type: "webhook.deliver", requestId: "r", deliveryId });
    expect((await deliver("notifications", [message])).result.explicitAcks).toHaveLength(1);
    expect((await deliveriesOf(webhook.id))[0]).toMatchObject({ status: "delivered", responseStatus: 200 });
  });

  it("records an unreachable endpoint in its own words, not the runtime's (no port-scanning oracle)", async () => {
    const userId = await newUser();
    // Port 1 on the loopback: nothing listens there, so the connection is refused.
    const { webhook } = await registerWebhook(userId, "http://127.0.0.1:1/hook");
    const deliveryId = await pendingDelivery(userId, webhook.id);
    const message = buildEvent(WebhookDeliverySchema, { type: "webhook.deliver", requestId: "r", deliveryId });
    const { ids, result } = await deliver("notifications", [message]);
    expect(result.retryMessages).toEqual([{ msgId: ids[0] }]);
    expect((await deliveriesOf(webhook.id))[0]).toMatchObject({
      status: "pending",
      attempts: 1,
      responseStatus: null,
      lastError: "the endpoint could not be reached",
    });
  });

  describe("outside the local stack's allowance (the rules production has)", () => {
    // WEBHOOK_ALLOW_LOCAL_RECEIVERS off, and the test stack's DNS-over-HTTPS resolver.
    const strict = {
      WEBHOOK_ALLOW_LOCAL_RECEIVERS: "false",
      WEBHOOK_DNS_RESOLVER: `${testEnv.CONTROL_URL}/dns-query`,
    };
    const records = (entries: Record<string, unknown>) =>
      fetch(`${testEnv.CONTROL_URL}/dns/records`, { method: "PUT", body: JSON.stringify(entries) });

    it("resolves the host name at each delivery: one that now leads to a private address fails unsent (DNS rebinding)", async () => {
      const userId = await newUser();
      const name = `rebind-${crypto.randomUUID().slice(0, 8)}.example.com`;
      // Registered while public (as the API checked it); the records changed since.
      await records({ [name]: { A: ["127.0.0.1"], AAAA: ["2606:4700::6810:84e5"] } });
      const { webhook } = await registerWebhook(userId, `https://${name}/hook`);
      const deliveryId = await pendingDelivery(userId, webhook.id);
      const message = buildEvent(WebhookDeliverySchema, { type: "webhook.deliver", requestId: "r", deliveryId });
      const { result } = await deliver("notifications", [message], strict);
      expect(result.explicitAcks).toHaveLength(1);
      expect((await deliveriesOf(webhook.id))[0]).toMatchObject({
        status: "failed",
        attempts: 0,
        lastError: "the URL resolves to 127.0.0.1, a non-public address",
      });
      const asked = (await (await fetch(`${testEnv.CONTROL_URL}/dns/queries`)).json()) as string[];
      expect(asked.filter((query) => query === name)).toHaveLength(2);
    });

    it("retries when the resolver cannot tell, and refuses a local URL stored before the rules", async () => {
      const userId = await newUser();
      const name = `servfail-${crypto.randomUUID().slice(0, 8)}.example.com`;
      await records({ [name]: "SERVFAIL" });
      const { webhook } = await registerWebhook(userId, `https://${name}/hook`);
      const deliveryId = await pendingDelivery(userId, webhook.id);
      const message = buildEvent(WebhookDeliverySchema, { type: "webhook.deliver", requestId: "r", deliveryId });
      const { ids, result } = await deliver("notifications", [message], strict);
      expect(result.retryMessages).toEqual([{ msgId: ids[0] }]);
      expect((await deliveriesOf(webhook.id))[0]).toMatchObject({
        status: "pending",
        attempts: 1,
        responseStatus: null,
        lastError: `could not resolve ${name}: DNS RCODE 2`,
      });
      // A name without an address (NXDOMAIN) is retried too: the receiver's DNS may come back.
      const gone = `nxdomain-${crypto.randomUUID().slice(0, 8)}.example.com`;
      const { webhook: unresolvable } = await registerWebhook(userId, `https://${gone}/hook`);
      const goneDelivery = await pendingDelivery(userId, unresolvable.id);
      const goneMessage = buildEvent(WebhookDeliverySchema, {
        type: "webhook.deliver",
        requestId: "r",
        deliveryId: goneDelivery,
      });
      const retried = await deliver("notifications", [goneMessage], strict);
      expect(retried.result.retryMessages).toEqual([{ msgId: retried.ids[0] }]);
      expect((await deliveriesOf(unresolvable.id))[0]).toMatchObject({
        status: "pending",
        lastError: `the URL's host ${gone} does not resolve to an address`,
      });

      const receiver = sink();
      const { webhook: local } = await registerWebhook(userId, receiver.url.replace("127.0.0.1", "[::ffff:127.0.0.1]"));
      const localDelivery = await pendingDelivery(userId, local.id);
      const localMessage = buildEvent(WebhookDeliverySchema, {
        type: "webhook.deliver",
        requestId: "r",
        deliveryId: localDelivery,
      });
      await deliver("notifications", [localMessage], strict);
      expect(await receiver.received()).toEqual([]);
      expect((await deliveriesOf(local.id))[0]).toMatchObject({ status: "failed", lastError: "must use https" });
    });
  });
});
