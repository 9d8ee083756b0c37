import { z } from "@hono/zod-openapi";
import type { Notification } from "../../db/schema/notifications.ts";
import { FAILURE_REASONS_DESCRIPTION } from "../../documents/failure-reasons.ts";
import { NOTIFICATION_KINDS } from "../../pkg/queue/events.ts";
import { uuid } from "../fields.ts";
import { PageQuery } from "../pagination.ts";

export const NotificationIdParams = z.object({ id: uuid().openapi({ param: { name: "id", in: "path" } }) });

export const NotificationSchema = z
  .object({
    id: z.uuid(),
    type: z.enum(NOTIFICATION_KINDS),
    title: z.string().openapi({ example: "“Q3 report” is ready" }),
    body: z.string(),
    data: z.record(z.string(), z.unknown()).openapi({
      description: `What the notification is about (the same in webhook payloads). For \`document.*\` processing outcomes: \`documentId\` and \`version\`; for \`document.failed\` and \`document.quarantined\` also \`reason\`, the version's \`failureReason\`. ${FAILURE_REASONS_DESCRIPTION} For the Project Service's events (\`project.member_invited\`, \`project.member_joined\`, \`project.member_removed\`, \`project.member_role_changed\`, \`document.moved\`): \`projectId\`, \`projectSlug\`, \`actorId\`, and as they apply \`userId\`, \`role\`, \`previousRole\`, \`invitationId\`, \`documentId\`, \`fromProjectId\`, \`toProjectId\`, \`previousOwnerId\`.`,
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
