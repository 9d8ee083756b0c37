import { and, arrayContains, desc, eq, isNotNull, isNull, or, type SQL, sql } from "drizzle-orm";
import type { KeysetCursor } from "../../pkg/pagination/cursor.ts";
import { firstRow, type Queryable, type Transaction } from "../actor.ts";
import type { HttpQueryBuilder } from "../client.ts";
import {
  type Notification,
  notifications,
  type Webhook,
  type WebhookDelivery,
  webhookDeliveries,
  webhooks,
} from "../schema/notifications.ts";

// Two modes (src/db/client.ts). `async` functions taking a `Transaction` run in the WebSocket
// mode inside `asActor` (the processor's writes, webhook changes under a lock or a cap).
// Functions taking a `Queryable` return the statement unexecuted, for either mode: the routes
// batch them with `batchAsActor` (one HTTP round trip for a list and its unread count).

// --- notifications ---

/** A delivery's notification: both halves of the key (the partition key prunes to one month). */
const joinsNotification = and(
  eq(notifications.id, webhookDeliveries.notificationId),
  eq(notifications.createdAt, webhookDeliveries.notificationCreatedAt),
);

export interface NewNotification {
  userId: string;
  type: string;
  title: string;
  body: string;
  data: Record<string, unknown>;
  eventId: string;
}

/**
 * Takes, until the transaction ends, a lock per (event, user) of `keys`, in their order (callers
 * sort them, so two transactions over the same keys wait instead of deadlocking). `notifications`
 * is partitioned by month on `created_at` (migration 0038), so a unique index on (event, user)
 * alone cannot exist: the lock makes "look, then insert" the one writer of each pair.
 */
function lockNotificationKeys(keys: readonly { eventId: string; userId: string }[]): SQL {
  const rows = sql.join(
    keys.map((key, i) => sql`(${i}::int, ${key.eventId}::uuid, ${key.userId}::uuid)`),
    sql`, `,
  );
  return sql`
    select count(pg_advisory_xact_lock(hashtextextended('notification:' || k.event_id || ':' || k.user_id, 0)))::int
      from (select * from (values ${rows}) as v(n, event_id, user_id) order by n offset 0) as k`;
}

/**
 * Stores a notification once per (event, user): a redelivered event returns the row the first
 * delivery wrote, with `created: false`.
 */
export async function storeNotification(
  tx: Transaction,
  input: NewNotification,
): Promise<{ notification: Notification; created: boolean }> {
  await tx.execute(lockNotificationKeys([input]));
  const [existing] = await tx
    .select()
    .from(notifications)
    .where(and(eq(notifications.eventId, input.eventId), eq(notifications.userId, input.userId)))
    .limit(1);
  if (existing) return { notification: existing, created: false };
  const [inserted] = await tx.insert(notifications).values(input).returning();
  if (!inserted) throw new Error("insert returned no row");
  return { notification: inserted, created: true };
}

/** A pending delivery of a batch's notification, with the (event, user) it was stored for. */
export interface PendingDelivery {
  delivery: WebhookDelivery;
  eventId: string;
  userId: string;
}

/**
 * The statements (HTTP mode, one transaction with `batchAsActor`) that do `storeNotification`,
 * `subscribedWebhooks` and `pendingDeliveries` for many notifications at once: each stored once
 * per (event, user), one delivery per (webhook, notification) for the user's active, verified
 * webhooks that want its type; the last statement resolves to every pending delivery of these
 * notifications, new or not, as `PendingDelivery` rows. A notification for a user who does not
 * exist fails the whole batch with a foreign-key violation (SQLSTATE 23503). `inputs` are locked
 * in their order (`lockNotificationKeys`): the caller sorts them.
 */
export function storeNotificationsStatements(
  db: HttpQueryBuilder,
  inputs: readonly [NewNotification, ...NewNotification[]],
) {
  const keys = sql.join(
    inputs.map((input) => sql`(${input.eventId}::uuid, ${input.userId}::uuid)`),
    sql`, `,
  );
  const ofBatch = sql`(${notifications.eventId}, ${notifications.userId}) in (values ${keys})`;
  const rows = sql.join(
    inputs.map(
      (input) =>
        sql`(${input.userId}::uuid, ${input.type}, ${input.title}, ${input.body}, ${JSON.stringify(input.data)}::jsonb, ${input.eventId}::uuid)`,
    ),
    sql`, `,
  );
  return [
    db.execute(lockNotificationKeys(inputs)),
    db.execute(sql`
      insert into ${notifications} (user_id, type, title, body, data, event_id)
      select v.user_id, v.type, v.title, v.body, v.data, v.event_id
        from (values ${rows}) as v(user_id, type, title, body, data, event_id)
       where not exists (select 1 from ${notifications} n where n.event_id = v.event_id and n.user_id = v.user_id)`),
    db.execute(sql`
      insert into ${webhookDeliveries} (webhook_id, notification_id, notification_created_at)
      select w.id, ${notifications.id}, ${notifications.createdAt}
        from ${notifications}
        join ${webhooks} w
          on w.user_id = ${notifications.userId} and w.active and w.verified_at is not null
         and (cardinality(w.events) = 0 or ${notifications.type} = any(w.events))
       where ${ofBatch}
       order by w.id, ${notifications.id}
      on conflict do nothing`),
    db
      .select({ delivery: webhookDeliveries, eventId: notifications.eventId, userId: notifications.userId })
      .from(webhookDeliveries)
      .innerJoin(notifications, joinsNotification)
      .where(and(ofBatch, eq(webhookDeliveries.status, "pending"))),
  ] as const;
}

export interface ListNotificationsParams {
  userId: string;
  limit: number;
  unreadOnly: boolean;
  after?: KeysetCursor | undefined;
}

/**
 * The user's notifications, newest first, keyset-paginated on (created_at, id); one extra row
 * tells if more follow. Both modes; `notificationsPage` shapes the rows.
 */
export function selectNotificationsPage(db: Queryable, params: ListNotificationsParams) {
  return db
    .select({ notification: notifications, cursorAt: sql<string>`${notifications.createdAt}::text` })
    .from(notifications)
    .where(
      and(
        eq(notifications.userId, params.userId),
        params.unreadOnly ? isNull(notifications.readAt) : undefined,
        params.after
          ? sql`(${notifications.createdAt}, ${notifications.id}) < (${params.after.createdAt}::timestamptz, ${params.after.id}::uuid)`
          : undefined,
      ),
    )
    .orderBy(desc(notifications.createdAt), desc(notifications.id))
    .limit(params.limit + 1);
}

/** The rows of `selectNotificationsPage`, each with its keyset cursor. */
export function notificationsPage(
  rows: Awaited<ReturnType<typeof selectNotificationsPage>>,
): (Notification & { cursor: KeysetCursor })[] {
  return rows.map(({ notification, cursorAt }) => ({
    ...notification,
    cursor: { createdAt: cursorAt, id: notification.id },
  }));
}

export async function listNotifications(
  tx: Transaction,
  params: ListNotificationsParams,
): Promise<(Notification & { cursor: KeysetCursor })[]> {
  return notificationsPage(await selectNotificationsPage(tx, params));
}

/** How many of the user's notifications are unread (one row, `count`). Both modes. */
export function selectUnreadCount(db: Queryable, params: { userId: string }) {
  return db
    .select({ count: sql<number>`count(*)::int` })
    .from(notifications)
    .where(and(eq(notifications.userId, params.userId), isNull(notifications.readAt)));
}

export async function unreadCount(tx: Transaction, params: { userId: string }): Promise<number> {
  return firstRow(await selectUnreadCount(tx, params))?.count ?? 0;
}

/**
 * Marks one notification read (keeping the first read time); undefined if it is not the user's.
 * The route knows only the id, not the month: each month's partition is probed by its primary key
 * (id, created_at) and the user's index, a few index lookups for the months kept.
 */
export async function markRead(
  tx: Transaction,
  params: { userId: string; id: string },
): Promise<Notification | undefined> {
  const [row] = await tx
    .update(notifications)
    .set({ readAt: sql`coalesce(${notifications.readAt}, now())` })
    .where(and(eq(notifications.id, params.id), eq(notifications.userId, params.userId)))
    .returning();
  return row;
}

export async function markAllRead(tx: Transaction, params: { userId: string }): Promise<number> {
  const rows = await tx
    .update(notifications)
    .set({ readAt: sql`now()` })
    .where(and(eq(notifications.userId, params.userId), isNull(notifications.readAt)))
    .returning({ id: notifications.id });
  return rows.length;
}

// --- webhooks ---

export async function createWebhook(
  tx: Transaction,
  params: { userId: string; url: string; secretCiphertext: string; events: string[] },
): Promise<Webhook> {
  const [row] = await tx.insert(webhooks).values(params).returning();
  if (!row) throw new Error("insert returned no row");
  return row;
}

/**
 * Registers a webhook unless the user already has `max`: undefined then. The count and the insert
 * run under a per-user transaction-scoped advisory lock, so concurrent registrations are counted
 * one after the other and the cap holds (a count followed by an insert let each of them see room).
 */
export async function createWebhookWithinCap(
  tx: Transaction,
  params: { userId: string; url: string; secretCiphertext: string; events: string[]; max: number },
): Promise<Webhook | undefined> {
  const { max, ...webhook } = params;
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`webhooks:${params.userId}`}, 0))`);
  const [counted] = await tx
    .select({ count: sql<number>`count(*)::int` })
    .from(webhooks)
    .where(eq(webhooks.userId, params.userId));
  if ((counted?.count ?? 0) >= max) return undefined;
  return createWebhook(tx, webhook);
}

export async function listWebhooks(tx: Transaction, params: { userId: string }): Promise<Webhook[]> {
  return tx.select().from(webhooks).where(eq(webhooks.userId, params.userId)).orderBy(desc(webhooks.createdAt));
}

const ownWebhook = (tx: Transaction, params: { userId: string; id: string }) =>
  tx
    .select()
    .from(webhooks)
    .where(and(eq(webhooks.id, params.id), eq(webhooks.userId, params.userId)))
    .limit(1);

export async function getWebhook(
  tx: Transaction,
  params: { userId: string; id: string },
): Promise<Webhook | undefined> {
  const [row] = await ownWebhook(tx, params);
  return row;
}

/** The caller's webhook with its row locked until the transaction ends (for a conditional write). */
export async function lockWebhook(
  tx: Transaction,
  params: { userId: string; id: string },
): Promise<Webhook | undefined> {
  const [row] = await ownWebhook(tx, params).for("update");
  return row;
}

export async function updateWebhook(
  tx: Transaction,
  params: {
    userId: string;
    id: string;
    url?: string | undefined;
    events?: string[] | undefined;
    active?: boolean | undefined;
  },
): Promise<Webhook | undefined> {
  const [row] = await tx
    .update(webhooks)
    .set({
      // A new URL is a new receiver: it must prove again that it wants the deliveries.
      ...(params.url !== undefined
        ? {
            url: params.url,
            verifiedAt: sql`case when ${webhooks.url} = ${params.url} then ${webhooks.verifiedAt} end`,
          }
        : {}),
      ...(params.events !== undefined ? { events: params.events } : {}),
      ...(params.active !== undefined ? { active: params.active } : {}),
    })
    .where(and(eq(webhooks.id, params.id), eq(webhooks.userId, params.userId)))
    .returning();
  return row;
}

/**
 * Records that the receiver at `url` echoed the challenge. Only while the webhook still has that
 * URL: one changed meanwhile stays unverified (undefined).
 */
export async function markWebhookVerified(
  tx: Transaction,
  params: { userId: string; id: string; url: string },
): Promise<Webhook | undefined> {
  const [row] = await tx
    .update(webhooks)
    .set({ verifiedAt: sql`now()` })
    .where(and(eq(webhooks.id, params.id), eq(webhooks.userId, params.userId), eq(webhooks.url, params.url)))
    .returning();
  return row;
}

/** Pauses a webhook whose receiver said it is gone for good (410 Gone). For the system. */
export async function disableWebhook(tx: Transaction, params: { id: string }): Promise<boolean> {
  const rows = await tx
    .update(webhooks)
    .set({ active: false })
    .where(eq(webhooks.id, params.id))
    .returning({ id: webhooks.id });
  return rows.length > 0;
}

export async function deleteWebhook(tx: Transaction, params: { userId: string; id: string }): Promise<boolean> {
  const rows = await tx
    .delete(webhooks)
    .where(and(eq(webhooks.id, params.id), eq(webhooks.userId, params.userId)))
    .returning({ id: webhooks.id });
  return rows.length > 0;
}

/**
 * The user's active, verified webhooks that want notifications of `type` (an empty list wants
 * all). An endpoint that never echoed the challenge gets nothing.
 */
export async function subscribedWebhooks(
  tx: Transaction,
  params: { userId: string; type: string },
): Promise<Webhook[]> {
  return tx
    .select()
    .from(webhooks)
    .where(
      and(
        eq(webhooks.userId, params.userId),
        eq(webhooks.active, true),
        isNotNull(webhooks.verifiedAt),
        or(sql`cardinality(${webhooks.events}) = 0`, arrayContains(webhooks.events, [params.type])),
      ),
    );
}

// --- deliveries ---

/** One delivery per (webhook, notification); returns those still pending, new or not. */
export async function pendingDeliveries(
  tx: Transaction,
  params: { notification: Pick<Notification, "id" | "createdAt">; webhookIds: string[] },
): Promise<WebhookDelivery[]> {
  if (params.webhookIds.length === 0) return [];
  const { id: notificationId, createdAt: notificationCreatedAt } = params.notification;
  await tx
    .insert(webhookDeliveries)
    .values(params.webhookIds.map((webhookId) => ({ webhookId, notificationId, notificationCreatedAt })))
    .onConflictDoNothing();
  return tx
    .select()
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.notificationId, notificationId),
        eq(webhookDeliveries.notificationCreatedAt, notificationCreatedAt),
        eq(webhookDeliveries.status, "pending"),
      ),
    );
}

/**
 * A delivery's whole primary key: `webhook_deliveries` is partitioned by month on its
 * notification's time (migration 0038), so an update naming both touches one partition.
 */
export type DeliveryKey = Pick<WebhookDelivery, "id" | "notificationCreatedAt">;

const isDelivery = (key: DeliveryKey) =>
  and(eq(webhookDeliveries.id, key.id), eq(webhookDeliveries.notificationCreatedAt, key.notificationCreatedAt));

export interface DeliveryToSend {
  delivery: WebhookDelivery;
  webhook: Webhook;
  notification: Notification;
}

/**
 * The delivery a `webhook.deliver` message names, with its webhook and notification. The message
 * carries only the id, so each month's partition is probed by its primary key.
 */
export async function deliveryToSend(tx: Transaction, params: { id: string }): Promise<DeliveryToSend | undefined> {
  const [row] = await tx
    .select({ delivery: webhookDeliveries, webhook: webhooks, notification: notifications })
    .from(webhookDeliveries)
    .innerJoin(webhooks, eq(webhooks.id, webhookDeliveries.webhookId))
    .innerJoin(notifications, joinsNotification)
    .where(eq(webhookDeliveries.id, params.id))
    .limit(1);
  return row;
}

/** Records one attempt. Only a pending delivery changes: a finished one stays as it ended. */
export async function recordAttempt(
  tx: Transaction,
  params: DeliveryKey & {
    outcome: "delivered" | "pending" | "failed";
    responseStatus: number | null;
    error: string | null;
  },
): Promise<WebhookDelivery | undefined> {
  const [row] = await tx
    .update(webhookDeliveries)
    .set({
      status: params.outcome,
      attempts: sql`${webhookDeliveries.attempts} + 1`,
      responseStatus: params.responseStatus,
      lastError: params.error,
      ...(params.outcome === "delivered" ? { deliveredAt: sql`now()` } : {}),
      updatedAt: sql`now()`,
    })
    .where(and(isDelivery(params), eq(webhookDeliveries.status, "pending")))
    .returning();
  return row;
}

/** Gives up on a delivery whose retries ran out (its message reached the dead-letter queue). */
export async function failDelivery(tx: Transaction, params: DeliveryKey & { reason: string }): Promise<boolean> {
  const rows = await tx
    .update(webhookDeliveries)
    .set({ status: "failed", lastError: params.reason, updatedAt: sql`now()` })
    .where(and(isDelivery(params), eq(webhookDeliveries.status, "pending")))
    .returning({ id: webhookDeliveries.id });
  return rows.length > 0;
}

export async function listDeliveries(
  tx: Transaction,
  params: { webhookId: string; limit: number },
): Promise<(WebhookDelivery & { notificationType: string })[]> {
  const rows = await tx
    .select({ delivery: webhookDeliveries, notificationType: notifications.type })
    .from(webhookDeliveries)
    .innerJoin(notifications, joinsNotification)
    .where(eq(webhookDeliveries.webhookId, params.webhookId))
    .orderBy(desc(webhookDeliveries.createdAt))
    .limit(params.limit);
  return rows.map(({ delivery, notificationType }) => ({ ...delivery, notificationType }));
}
