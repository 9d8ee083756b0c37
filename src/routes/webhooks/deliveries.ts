import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { listDeliveries } from "../../db/queries/notifications.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { ownWebhook } from "./access.ts";
import { DeliverySchema, toDeliveryJson, WebhookIdParams } from "./schemas.ts";

/** How many deliveries the list shows, newest first. */
const DELIVERIES_SHOWN = 50;

const route = protectedRoute("caller", {
  method: "get",
  path: "/webhooks/{id}/deliveries",
  tags: ["Webhooks"],
  summary: "The latest deliveries to a webhook (status, attempts, last error)",
  request: { params: WebhookIdParams },
  responses: {
    200: jsonResponse(`Newest first, at most ${DELIVERIES_SHOWN}.`, z.object({ data: z.array(DeliverySchema) })),
    ...problemResponses(400, 404, 503),
  },
});

export const listWebhookDeliveries = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const rows = await asCaller(c).transaction(async (tx) => {
    await ownWebhook(c, tx, id);
    return listDeliveries(tx, { webhookId: id, limit: DELIVERIES_SHOWN });
  });
  return c.json({ data: rows.map(toDeliveryJson) }, 200);
});
