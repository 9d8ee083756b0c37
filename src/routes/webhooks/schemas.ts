import { z } from "@hono/zod-openapi";
import type { Webhook, WebhookDelivery } from "../../db/schema/notifications.ts";
import { DELIVERY_STATUSES } from "../../db/schema/notifications.ts";
import type { WriteValidators } from "../../pkg/http/preconditions.ts";
import { NOTIFICATION_KINDS } from "../../pkg/queue/events.ts";
import { validatorsOf } from "../conditional.ts";
import { storableText, uuid } from "../fields.ts";

export const WebhookIdParams = z.object({ id: uuid().openapi({ param: { name: "id", in: "path" } }) });

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

/** The `ETag` response header of a webhook, for the OpenAPI document. */
export const ETAG_HEADER = {
  ETag: {
    description: "Strong entity tag of this representation; send it in If-Match to make a change conditional.",
    schema: { type: "string" as const },
  },
};

/** The description of a conditional write of a webhook (PATCH, DELETE). */
export const CONDITIONAL =
  "With `If-Match` (the webhook's ETag), only if the webhook has not changed since: otherwise 412 and nothing changes.";

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

/**
 * A webhook's validator: the strong ETag of its JSON representation. Webhooks keep no
 * modification date, so they have no Last-Modified and If-Unmodified-Since is ignored
 * (RFC 9110 §13.1.4).
 */
export const webhookValidators = (row: Webhook): Promise<WriteValidators> => validatorsOf(toWebhookJson(row));

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
