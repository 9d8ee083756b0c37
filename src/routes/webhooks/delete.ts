import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { deleteWebhook } from "../../db/queries/notifications.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalWriteHeaders } from "../conditional.ts";
import { protectedRoute } from "../openapi.ts";
import { lockOwnWebhookForWrite, webhookNotFound } from "./access.ts";
import { CONDITIONAL, WebhookIdParams } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "delete",
  path: "/webhooks/{id}",
  tags: ["Webhooks"],
  summary: "Remove a webhook",
  description: CONDITIONAL,
  request: { params: WebhookIdParams, headers: ConditionalWriteHeaders },
  responses: { 204: { description: "Removed." }, ...problemResponses(400, 404, 412, 503) },
});

export const removeWebhook = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const { userId } = callerOf(c);
  const removed = await asCaller(c).transaction(async (tx) => {
    await lockOwnWebhookForWrite(c, tx, id);
    return deleteWebhook(tx, { userId, id });
  });
  if (!removed) throw webhookNotFound(id);
  return c.body(null, 204);
});
