import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { listWebhooks } from "../../db/queries/notifications.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { toWebhookJson, WebhookSchema } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "get",
  path: "/webhooks",
  tags: ["Webhooks"],
  summary: "My webhooks",
  responses: { 200: jsonResponse("Webhooks.", z.object({ data: z.array(WebhookSchema) })), ...problemResponses(503) },
});

export const listOwnWebhooks = createRouter().openapi(route, async (c) => {
  const { userId } = callerOf(c);
  const rows = await asCaller(c).transaction((tx) => listWebhooks(tx, { userId }));
  return c.json({ data: rows.map(toWebhookJson) }, 200);
});
