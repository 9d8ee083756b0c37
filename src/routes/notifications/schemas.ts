import { z } from "@hono/zod-openapi";
import type { Notification, Webhook, WebhookDelivery } from "../../db/schema/notifications.ts";
import { DELIVERY_STATUSES } from "../../db/schema/notifications.ts";
import { FAILURE_REASONS_DESCRIPTION } from "../../documents/failure-reasons.ts";
import { NOTIFICATION_KINDS } from "../../pkg/queue/events.ts";
import { storableText, uuid } from "../fields.ts";
import { PageQuery } from "../pagination.ts";

const uuidParam = (name: string) => uuid().openapi({ param: { name, in: "path" } });

export const IdParams = z.object({ id: uuidParam("id") });

export const NotificationSchema = z
  .object({
    id: z.uuid(),
    type: z.enum(NOTIFICATION_KINDS),
    title: z.string().openapi({ example: "“Q3 report” is ready" }),
    body: z.string(),
    data: z.record(z.string(), z.unknown()).openapi({
      description: `What the notification is about: \`documentId\` and \`version\`; for \`document.failed\` and \`document.quarantined\` also \`reason\`, the version's \`failureReason\` (the same in webhook payloads). ${FAILURE_REASONS_DESCRIPTION}`,
      example: { documentId: "0b6f…", version: 1, reason: "unsupported_content" },
    }),
    read: z.boolean(),
    readAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi("Notification");

export const NotificationPageSchema = z
  .object({ data: z.array(NotificationSchema), nextCursor: z.string().nullable(), unreadCount: z.number().int() })
  .openapi("NotificationPage");

export const ListNotificationsQuery = PageQuery.extend({
  unread: z
    .enum(["true", "false"])
    .default("false")
    .transform((value) => value === "true")
    .openapi({ param: { name: "unread", in: "query" }, description: "Only unread notifications." }),
});

export const ReadAllSchema = z.object({ updated: z.number().int() }).openapi("ReadAllResult");

const EventsSchema = z
  .array(z.enum(NOTIFICATION_KINDS))
  .max(NOTIFICATION_KINDS.length)
  .transform((events) => [...new Set(events)])
  .openapi({ description: "Notification types to deliver; empty or absent for all.", example: ["document.ready"] });

const UrlSchema = z
  .url({ protocol: /^https?$/ })
  .max(2048)
  .check(storableText)
  .openapi({ pattern: "^https?://", example: "https://example.com/hooks/techcorp" });

export const CreateWebhookSchema = z
  .strictObject({ url: UrlSchema, events: EventsSchema.default([]) })
  .openapi("WebhookCreate");

export const UpdateWebhookSchema = z
  .strictObject({ url: UrlSchema.optional(), events: EventsSchema.optional(), active: z.boolean().optional() })
  .refine((body) => Object.keys(body).length > 0, { message: "give url, events or active" })
  .openapi("WebhookUpdate", { minProperties: 1 });

export const WebhookSchema = z
  .object({
    id: z.uuid(),
    url: z.string(),
    events: z.array(z.string()),
    active: z.boolean(),
    verified: z.boolean().openapi({
      description:
        "Whether the endpoint echoed a signed challenge (POST /webhooks/{id}/verify) at its current URL; unverified webhooks get no events.",
    }),
    createdAt: z.iso.datetime(),
  })
  .openapi("Webhook");

export const CreatedWebhookSchema = WebhookSchema.extend({
  secret: z.string().openapi({
    description:
      "The signing secret (Standard Webhooks `whsec_…`), shown only now. Each delivery carries `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`.",
  }),
}).openapi("CreatedWebhook");

export const DeliverySchema = z
  .object({
    id: z.uuid(),
    notificationId: z.uuid(),
    notificationType: z.string(),
    status: z.enum(DELIVERY_STATUSES),
    attempts: z.number().int(),
    responseStatus: z.number().int().nullable(),
    lastError: z.string().nullable(),
    deliveredAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi("WebhookDelivery");

export function toNotificationJson(row: Notification): z.infer<typeof NotificationSchema> {
  return {
    id: row.id,
    type: row.type as z.infer<typeof NotificationSchema>["type"],
    title: row.title,
    body: row.body,
    data: row.data,
    read: row.readAt !== null,
    readAt: row.readAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}

export function toWebhookJson(row: Webhook): z.infer<typeof WebhookSchema> {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    active: row.active,
    verified: row.verifiedAt !== null,
    createdAt: row.createdAt.toISOString(),
  };
}

export function toDeliveryJson(row: WebhookDelivery & { notificationType: string }): z.infer<typeof DeliverySchema> {
  return {
    id: row.id,
    notificationId: row.notificationId,
    notificationType: row.notificationType,
    status: row.status,
    attempts: row.attempts,
    responseStatus: row.responseStatus,
    lastError: row.lastError,
    deliveredAt: row.deliveredAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}
