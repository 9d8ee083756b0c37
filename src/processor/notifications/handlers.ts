import { asActor, SYSTEM, type Transaction } from "../../db/actor.ts";
import { isForeignKeyViolation } from "../../db/errors.ts";
import {
  deliveryToSend,
  disableWebhook,
  failDelivery,
  pendingDeliveries,
  recordAttempt,
  storeNotification,
  subscribedWebhooks,
} from "../../db/queries/notifications.ts";
import { postToReceiver } from "../../notifications/webhook-request.ts";
import { WEBHOOK_SECRET_PURPOSE } from "../../notifications/webhook-signature.ts";
import { webhookUrlProblem } from "../../notifications/webhook-url.ts";
import { createSecretBox } from "../../pkg/crypto/secret-box.ts";
import {
  derivedEventId,
  type NotificationEvent,
  type NotificationRequested,
  type WebhookDelivery,
} from "../../pkg/queue/events.ts";
import type { ProcessorServices, StepResult } from "../context.ts";

const system = <T>(services: ProcessorServices, work: (tx: Transaction) => Promise<T>) =>
  asActor(services.database.db, SYSTEM, work);

/**
 * The Notification Service's intake: stores the in-app notification (once per event and user),
 * then queues one delivery per subscribed webhook, each retried on its own.
 */
async function store(event: NotificationRequested, services: ProcessorServices): Promise<StepResult> {
  let pending: Awaited<ReturnType<typeof pendingDeliveries>>;
  try {
    pending = await system(services, async (tx) => {
      const { notification } = await storeNotification(tx, {
        userId: event.userId,
        type: event.kind,
        title: event.title,
        body: event.body,
        data: event.data,
        eventId: event.id,
      });
      const hooks = await subscribedWebhooks(tx, { userId: event.userId, type: event.kind });
      return pendingDeliveries(tx, { notificationId: notification.id, webhookIds: hooks.map((hook) => hook.id) });
    });
  } catch (error) {
    if (isForeignKeyViolation(error)) return { outcome: "done", note: "the user no longer exists" };
    throw error;
  }
  // Deliveries already attempted have their own messages; only untried ones are (re)queued.
  const untried = pending.filter((delivery) => delivery.attempts === 0);
  await services.notifications.publishAll(
    await Promise.all(
      untried.map(async (delivery) => ({
        id: await derivedEventId(delivery.id, "deliver"),
        type: "webhook.deliver" as const,
        requestId: event.requestId,
        deliveryId: delivery.id,
      })),
    ),
  );
  return { outcome: "done", note: `stored; ${untried.length} webhook deliveries queued` };
}

/** The receiver's rules and resolver, as configured (WEBHOOK_* variables). */
const receiverOptions = (services: ProcessorServices) => ({ ...services.config.webhooks, fetch: services.fetch });

/**
 * One attempt to POST a notification to a webhook, signed (Standard Webhooks). The URL and what
 * its name resolves to are checked at each attempt (DNS rebinding); a URL that may not be sent to
 * fails the delivery. 410 Gone disables the webhook and fails the delivery (Standard Webhooks:
 * the endpoint asks to be removed); any other answer than 2xx, redirects included, is retried.
 */
async function deliver(event: WebhookDelivery, services: ProcessorServices): Promise<StepResult> {
  const row = await system(services, (tx) => deliveryToSend(tx, { id: event.deliveryId }));
  if (!row) return { outcome: "done", note: "delivery no longer exists" };
  const { delivery, webhook, notification } = row;
  if (delivery.status !== "pending") return { outcome: "done", note: `already ${delivery.status}` };
  const refused = !webhook.active
    ? "the webhook is disabled"
    : !webhook.verifiedAt
      ? "the webhook's endpoint is not verified"
      : webhookUrlProblem(webhook.url, services.config.webhooks);
  if (refused) {
    await system(services, (tx) => failDelivery(tx, { id: delivery.id, reason: refused }));
    return { outcome: "done", note: `not sent: ${refused}` };
  }

  const box = await createSecretBox(services.config.encryptionKey, WEBHOOK_SECRET_PURPOSE);
  const secret = await box.open(webhook.secretCiphertext);
  const body = JSON.stringify({
    type: notification.type,
    timestamp: notification.createdAt.toISOString(),
    data: { id: notification.id, title: notification.title, body: notification.body, ...notification.data },
  });
  const sent = await postToReceiver(
    webhook.url,
    { id: delivery.id, secret, body, readBody: false },
    receiverOptions(services),
  );
  if (sent.kind === "unreachable") {
    services.logger.warn("webhook endpoint unreachable", { deliveryId: delivery.id, error: sent.cause });
  }
  if (sent.kind === "refused") {
    await system(services, (tx) => failDelivery(tx, { id: delivery.id, reason: sent.reason }));
    return { outcome: "done", note: `not sent: ${sent.reason}` };
  }
  if (sent.kind === "answered" && sent.status === 410) {
    const reason = "the endpoint answered 410 Gone; the webhook was disabled";
    await system(services, async (tx) => {
      await recordAttempt(tx, { id: delivery.id, outcome: "failed", responseStatus: 410, error: reason });
      await disableWebhook(tx, { id: webhook.id });
    });
    return { outcome: "done", note: reason };
  }
  const status = sent.kind === "answered" ? sent.status : null;
  const error =
    sent.kind !== "answered"
      ? sent.reason
      : sent.status >= 300 && sent.status < 400
        ? `the endpoint answered ${sent.status} (redirects are not followed)`
        : sent.status >= 200 && sent.status < 300
          ? null
          : `the endpoint answered ${sent.status}`;
  await system(services, (tx) =>
    recordAttempt(tx, { id: delivery.id, outcome: error ? "pending" : "delivered", responseStatus: status, error }),
  );
  return error ? { outcome: "retry", reason: error } : { outcome: "done", note: `delivered (${status})` };
}

export function handleNotificationEvent(event: NotificationEvent, _attempts: number, services: ProcessorServices) {
  switch (event.type) {
    case "notification.requested":
      return store(event, services);
    case "webhook.deliver":
      return deliver(event, services);
  }
}

/** Messages that exhausted their retries: a webhook delivery is given up (recorded as failed). */
export async function handleDeadNotificationEvent(
  event: NotificationEvent,
  _attempts: number,
  services: ProcessorServices,
): Promise<StepResult> {
  if (event.type === "webhook.deliver") {
    const row = await system(services, (tx) => deliveryToSend(tx, { id: event.deliveryId }));
    const last = row?.delivery.lastError ? `: ${row.delivery.lastError}` : "";
    const given = await system(services, (tx) =>
      failDelivery(tx, { id: event.deliveryId, reason: `gave up after the retry limit${last}` }),
    );
    return { outcome: "done", note: given ? "delivery failed" : "already finished" };
  }
  services.logger.error("notification could not be stored", { userId: event.userId, kind: event.kind });
  return { outcome: "done", note: "dropped" };
}
