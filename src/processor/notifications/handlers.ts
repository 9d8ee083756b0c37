import { asActor, batchAsActor, SYSTEM, type Transaction } from "../../db/actor.ts";
import { isForeignKeyViolation, serverError } from "../../db/errors.ts";
import {
  deliveryToSend,
  disableWebhook,
  failDelivery,
  type NewNotification,
  type PendingDelivery,
  pendingDeliveries,
  recordAttempt,
  storeNotification,
  storeNotificationsStatements,
  subscribedWebhooks,
} from "../../db/queries/notifications.ts";
import type { WebhookDelivery as DeliveryRow } from "../../db/schema/notifications.ts";
import { postToReceiver } from "../../notifications/webhook-request.ts";
import { WEBHOOK_SECRET_PURPOSE } from "../../notifications/webhook-signature.ts";
import { webhookUrlProblem } from "../../notifications/webhook-url.ts";
import { createSecretBox } from "../../pkg/crypto/secret-box.ts";
import {
  derivedEventId,
  type MailRequested,
  type NotificationEvent,
  type NotificationRequested,
  type WebhookDelivery,
} from "../../pkg/queue/events.ts";
import { type Context, withContext } from "../../pkg/tracing/tracing.ts";
import { forEachBounded } from "../bounded.ts";
import type { ProcessorServices, StepResult } from "../context.ts";
import type { BatchEvent } from "../handle-batch.ts";
import { mailDeadLettered, sendMail } from "./mail.ts";

/** SMTP sessions one batch opens at once (each mail has its own). */
const MAIL_CONCURRENCY = 4;

const system = <T>(services: ProcessorServices, work: (tx: Transaction) => Promise<T>) =>
  asActor(services.database.db, SYSTEM, work);

/** A delivery's whole key, so its updates touch only its month's partition. */
const keyOf = (delivery: DeliveryRow) => ({ id: delivery.id, notificationCreatedAt: delivery.notificationCreatedAt });

/** The in-app notification an event asks for. */
const notificationOf = (event: NotificationRequested): NewNotification => ({
  userId: event.userId,
  type: event.kind,
  title: event.title,
  body: event.body,
  data: event.data,
  eventId: event.id,
});

/**
 * The Notification Service's intake: stores the in-app notification (once per event and user),
 * then queues one delivery per subscribed webhook, each retried on its own.
 */
async function store(event: NotificationRequested, services: ProcessorServices): Promise<StepResult> {
  let pending: Awaited<ReturnType<typeof pendingDeliveries>>;
  try {
    pending = await system(services, async (tx) => {
      const { notification } = await storeNotification(tx, notificationOf(event));
      const hooks = await subscribedWebhooks(tx, { userId: event.userId, type: event.kind });
      return pendingDeliveries(tx, { notification, webhookIds: hooks.map((hook) => hook.id) });
    });
  } catch (error) {
    if (isForeignKeyViolation(error)) return { outcome: "done", note: "the user no longer exists" };
    throw error;
  }
  const untried = await queueUntried(services, [{ requestId: event.requestId, deliveries: pending }]);
  return { outcome: "done", note: `stored; ${untried} webhook deliveries queued` };
}

/**
 * Queues a `webhook.deliver` message for each delivery not tried yet, all in one `publishAll`
 * (deliveries already attempted have their own messages). Returns how many were queued.
 */
async function queueUntried(
  services: ProcessorServices,
  groups: readonly {
    requestId: string;
    deliveries: readonly DeliveryRow[];
    /** The notification's trace, which its deliveries join. */
    trace?: { traceparent?: string | undefined; tracestate?: string | undefined };
  }[],
): Promise<number> {
  const messages = await Promise.all(
    groups.flatMap(({ requestId, deliveries, trace }) =>
      deliveries
        .filter((delivery) => delivery.attempts === 0)
        .map(async (delivery) => ({
          id: await derivedEventId(delivery.id, "deliver"),
          type: "webhook.deliver" as const,
          requestId,
          deliveryId: delivery.id,
          ...(trace?.traceparent ? { traceparent: trace.traceparent } : {}),
          ...(trace?.tracestate ? { tracestate: trace.tracestate } : {}),
        })),
    ),
  );
  await services.notifications.publishAll(messages);
  return messages.length;
}

/**
 * `store` for all the `notification.requested` events of a batch at once (one or more): one HTTP
 * transaction (`storeNotificationsStatements`) and one `publishAll` for every untried delivery,
 * where `store` opens a WebSocket session and runs five statements for each. Each event is still
 * decided on its own:
 *   - Postgres refused the batch's data (SQLSTATE class 22 or 23, e.g. a user who no longer exists):
 *     nothing of it happened, and each distinct event runs `store` alone, so only the faulty one
 *     fails. Any other refusal (overload, a deadlock) retries every event, as no answer does.
 *   - No answer (deadline, network): the batch may have committed; every event is retried, and the
 *     redelivery stores nothing twice (one notification per event and user, one delivery per
 *     webhook and notification).
 *   - The publish failed: every event is retried (its redelivery queues the untried deliveries).
 */
export async function storeAll(
  events: readonly NotificationRequested[],
  services: ProcessorServices,
): Promise<StepResult[]> {
  const key = (eventId: string, userId: string) => `${eventId}:${userId}`;
  // Each (event, user) once, in one order for every batch: two batches holding the same redelivered
  // events insert them in the same order, so they wait for each other instead of deadlocking.
  const distinct = [...new Map(events.map((event) => [key(event.id, event.userId), event])).values()].sort(
    (a, b) => a.id.localeCompare(b.id) || a.userId.localeCompare(b.userId),
  );
  const [first, ...rest] = distinct;
  if (!first) return [];
  let pending: PendingDelivery[];
  try {
    [, , , pending] = await batchAsActor(services.database.http, SYSTEM, (db) =>
      storeNotificationsStatements(db, [notificationOf(first), ...rest.map(notificationOf)]),
    );
  } catch (error) {
    // Only a refusal of the data (SQLSTATE class 22 or 23: a user who no longer exists) is worth
    // trying event by event; anything else (overload, a conflict) retries them all.
    if (!/^2[23]/.test(serverError(error)?.code ?? "")) throw error;
    services.logger.warn("batch of notifications refused; each on its own", { error, events: distinct.length });
    const stored = new Map(
      await Promise.all(
        distinct.map(
          async (event) =>
            [key(event.id, event.userId), await store(event, services).catch((failure) => retried(failure))] as const,
        ),
      ),
    );
    // A duplicate gets the result of the one stored for it (and queued nothing more).
    return events.map((event) => stored.get(key(event.id, event.userId)) ?? { outcome: "retry", reason: "no result" });
  }
  const byEvent = new Map<string, DeliveryRow[]>();
  for (const row of pending) {
    const list = byEvent.get(key(row.eventId, row.userId)) ?? [];
    list.push(row.delivery);
    byEvent.set(key(row.eventId, row.userId), list);
  }
  // A duplicate of an event in the batch queues nothing more: its deliveries are the first's.
  const seen = new Set<string>();
  const groups = events.map((event) => {
    const k = key(event.id, event.userId);
    const deliveries = seen.has(k) ? [] : (byEvent.get(k) ?? []);
    seen.add(k);
    return {
      requestId: event.requestId,
      deliveries,
      trace: { traceparent: event.traceparent, tracestate: event.tracestate },
    };
  });
  await queueUntried(services, groups);
  return groups.map(({ deliveries }) => ({
    outcome: "done",
    note: `stored; ${deliveries.filter((delivery) => delivery.attempts === 0).length} webhook deliveries queued`,
  }));
}

const retried = (error: unknown): StepResult => ({
  outcome: "retry",
  reason: error instanceof Error ? error.message : String(error),
});

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
    await system(services, (tx) => failDelivery(tx, { ...keyOf(delivery), reason: refused }));
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
    await system(services, (tx) => failDelivery(tx, { ...keyOf(delivery), reason: sent.reason }));
    return { outcome: "done", note: `not sent: ${sent.reason}` };
  }
  if (sent.kind === "answered" && sent.status === 410) {
    const reason = "the endpoint answered 410 Gone; the webhook was disabled";
    await system(services, async (tx) => {
      await recordAttempt(tx, { ...keyOf(delivery), outcome: "failed", responseStatus: 410, error: reason });
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
    recordAttempt(tx, { ...keyOf(delivery), outcome: error ? "pending" : "delivered", responseStatus: status, error }),
  );
  return error ? { outcome: "retry", reason: error } : { outcome: "done", note: `delivered (${status})` };
}

/**
 * The notifications queue's batch handler: its `notification.requested` events stored together
 * (`storeAll`), its `webhook.deliver` events each on its own, in parallel (one receiver each), its
 * `mail.requested` events each in its own SMTP session, {@link MAIL_CONCURRENCY} at once.
 * One result per event, in order; a failure becomes that event's retry.
 */
export async function handleNotificationBatch(
  events: BatchEvent<NotificationEvent>[],
  services: ProcessorServices,
): Promise<StepResult[]> {
  const requested: { event: NotificationRequested; index: number }[] = [];
  type Own<E> = {
    event: E;
    logger: BatchEvent<NotificationEvent>["logger"];
    context: Context | undefined;
    index: number;
  };
  const deliveries: Own<WebhookDelivery>[] = [];
  const mails: Own<MailRequested>[] = [];
  events.forEach(({ event, logger, context }, index) => {
    if (event.type === "notification.requested") requested.push({ event, index });
    else if (event.type === "mail.requested") mails.push({ event, logger, context, index });
    else deliveries.push({ event, logger, context, index });
  });
  // A delivery or a mail is its message's own work: inside its consumer span (its webhook request
  // carries that trace on in `traceparent`).
  const own = <T>(context: Context | undefined, work: () => Promise<T>) =>
    context ? withContext(context, work) : work();
  const results: StepResult[] = [];
  await Promise.all([
    storeAll(
      requested.map(({ event }) => event),
      services,
    ).then(
      (stored) => {
        requested.forEach(({ index }, i) => {
          results[index] = stored[i] ?? { outcome: "retry", reason: "no result" };
        });
      },
      (error: unknown) => {
        services.logger.warn("batch of notifications failed", { error });
        for (const { index } of requested) results[index] = retried(error);
      },
    ),
    ...deliveries.map(async ({ event, logger, context, index }) => {
      results[index] = await own(context, () => deliver(event, { ...services, logger })).catch((error: unknown) => {
        logger.warn("handler failed", { error });
        return retried(error);
      });
    }),
    forEachBounded(mails, { concurrency: MAIL_CONCURRENCY }, async ({ event, logger, context, index }) => {
      results[index] = await own(context, () => sendMail(event, { ...services, logger })).catch((error: unknown) => {
        logger.warn("handler failed", { error });
        return retried(error);
      });
    }),
  ]);
  return events.map((_, index) => results[index] ?? { outcome: "retry", reason: "no result" });
}

/**
 * Messages that exhausted their retries: a webhook delivery is given up (recorded as failed), a
 * mail logged and dropped.
 */
export async function handleDeadNotificationEvent(
  event: NotificationEvent,
  attempts: number,
  services: ProcessorServices,
): Promise<StepResult> {
  if (event.type === "mail.requested") return mailDeadLettered(event, attempts, services);
  if (event.type === "webhook.deliver") {
    const row = await system(services, (tx) => deliveryToSend(tx, { id: event.deliveryId }));
    const last = row?.delivery.lastError ? `: ${row.delivery.lastError}` : "";
    const given = row
      ? await system(services, (tx) =>
          failDelivery(tx, { ...keyOf(row.delivery), reason: `gave up after the retry limit${last}` }),
        )
      : false;
    return { outcome: "done", note: given ? "delivery failed" : "already finished" };
  }
  services.logger.error("notification could not be stored", { userId: event.userId, kind: event.kind });
  return { outcome: "done", note: "dropped" };
}
