import { sql } from "drizzle-orm";
import {
  boolean,
  check,
  foreignKey,
  index,
  integer,
  jsonb,
  pgPolicy,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from "drizzle-orm/pg-core";
import { actorId, isStaff, ownedBy } from "./rls.ts";
import { users } from "./users.ts";

/**
 * In-app notifications of the Notification Service. Partitioned by month on `created_at`
 * (migration 0038; partitioning lives in SQL, drizzle does not declare it): hence the primary key
 * (id, created_at), and one notification per (event, user) is kept by `storeNotification`'s lock
 * rather than a unique index, which would have to include `created_at`. The sweeper drops whole
 * months past `NOTIFICATIONS_RETENTION_DAYS` (src/processor/partitions.ts).
 */
export const notifications = pgTable(
  "notifications",
  {
    id: uuid("id").defaultRandom().notNull(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** The event, e.g. `document.ready`; also what webhooks subscribe to. */
    type: varchar("type", { length: 64 }).notNull(),
    title: varchar("title", { length: 255 }).notNull(),
    body: text("body").notNull(),
    data: jsonb("data").$type<Record<string, unknown>>().notNull().default({}),
    /** The event that caused it: delivering the same event twice makes one notification. */
    eventId: uuid("event_id").notNull(),
    readAt: timestamp("read_at", { withTimezone: true }),
    /**
     * The partition key, half of the primary key and of the deliveries' reference: in milliseconds
     * (precision 3) so that it survives a JavaScript `Date` unchanged and a key read by the app
     * finds its row again.
     */
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.id, t.createdAt] }),
    index("notifications_user_created_idx").on(t.userId, t.createdAt.desc(), t.id.desc()),
    index("notifications_event_user_idx").on(t.eventId, t.userId),
    // Users read and mark their own; only the system creates them.
    pgPolicy("notifications_read", { for: "select", using: sql`${t.userId} = ${actorId} or ${isStaff}` }),
    pgPolicy("notifications_update", {
      for: "update",
      using: sql`${t.userId} = ${actorId} or ${isStaff}`,
      withCheck: sql`${t.userId} = ${actorId} or ${isStaff}`,
    }),
    pgPolicy("notifications_insert", { for: "insert", withCheck: isStaff }),
    pgPolicy("notifications_delete", { for: "delete", using: sql`${t.userId} = ${actorId} or ${isStaff}` }),
  ],
).enableRLS();

/** A user's webhook endpoint: notifications of the listed types are POSTed to it, signed. */
export const webhooks = pgTable(
  "webhooks",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    url: varchar("url", { length: 2048 }).notNull(),
    /** The signing secret, sealed (it must be read back to sign). */
    secretCiphertext: varchar("secret_ciphertext", { length: 512 }).notNull(),
    /** Notification types to deliver; empty means all. */
    events: text("events").array().notNull().default([]),
    active: boolean("active").notNull().default(true),
    /**
     * When the receiver last proved it wants deliveries at `url` (it echoed a signed challenge;
     * POST /webhooks/{id}/verify). Null until then, and again whenever the URL changes:
     * unverified endpoints get no events.
     */
    verifiedAt: timestamp("verified_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("webhooks_user_idx").on(t.userId), ownedBy("webhooks", sql`${t.userId}`)],
).enableRLS();

export const DELIVERY_STATUSES = ["pending", "delivered", "failed"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * One notification sent to one webhook: attempts, outcome, and the last error. Partitioned by
 * month on its notification's time (`notification_created_at`, migration 0038), so a notification
 * and its deliveries share a month: the foreign key to the partitioned `notifications` names its
 * whole key, and a month of notifications is dropped after its deliveries' month.
 */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    id: uuid("id").defaultRandom().notNull(),
    webhookId: uuid("webhook_id")
      .notNull()
      .references(() => webhooks.id, { onDelete: "cascade" }),
    notificationId: uuid("notification_id").notNull(),
    /** The notification's `created_at`: the partition key, and half of the reference to it. */
    notificationCreatedAt: timestamp("notification_created_at", { withTimezone: true, precision: 3 }).notNull(),
    status: varchar("status", { length: 16 }).$type<DeliveryStatus>().notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    responseStatus: integer("response_status"),
    lastError: text("last_error"),
    deliveredAt: timestamp("delivered_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.id, t.notificationCreatedAt] }),
    foreignKey({
      name: "webhook_deliveries_notification_fk",
      columns: [t.notificationId, t.notificationCreatedAt],
      foreignColumns: [notifications.id, notifications.createdAt],
    }).onDelete("cascade"),
    uniqueIndex("webhook_deliveries_once_key").on(t.webhookId, t.notificationId, t.notificationCreatedAt),
    check("webhook_deliveries_status_check", sql.raw(`status in ('pending', 'delivered', 'failed')`)),
    pgPolicy("webhook_deliveries_read", {
      for: "select",
      using: sql`${isStaff} or exists (select 1 from webhooks w where w.id = ${t.webhookId})`,
    }),
    pgPolicy("webhook_deliveries_write", { for: "all", using: isStaff, withCheck: isStaff }),
  ],
).enableRLS();

export type Notification = typeof notifications.$inferSelect;
export type Webhook = typeof webhooks.$inferSelect;
export type WebhookDelivery = typeof webhookDeliveries.$inferSelect;
