import { createRouter } from "../../app/create-app.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { MAX_WEBHOOKS_PER_USER, registerWebhook } from "../../notifications/webhook-registration.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonBody, jsonResponse, protectedRoute } from "../openapi.ts";
import { webhookDeps } from "./deps.ts";
import { requireReceiverUrl } from "./receiver-url.ts";
import { CreatedWebhookSchema, CreateWebhookSchema, toWebhookJson } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "post",
  path: "/webhooks",
  tags: ["Webhooks"],
  summary: "Register a webhook (the secret is shown once)",
  description: `Notifications are POSTed as JSON, signed per Standard Webhooks, and retried with exponential backoff until the endpoint answers 2xx (then given up and recorded as failed). It starts unverified and gets no events until \`POST /webhooks/{id}/verify\` succeeds. https to a public host (no loopback, private, link-local or internal address or name) outside the local stack; at most ${MAX_WEBHOOKS_PER_USER} per user, also under concurrent registrations.`,
  request: { body: jsonBody(CreateWebhookSchema) },
  responses: {
    201: jsonResponse("Registered; keep the secret.", CreatedWebhookSchema),
    ...problemResponses(400, 409, 415, 503),
  },
});

export const addWebhook = createRouter().openapi(route, async (c) => {
  const body = c.req.valid("json");
  requireReceiverUrl(c, body.url);
  const { webhook, secret } = await registerWebhook(webhookDeps(c), {
    userId: callerOf(c).userId,
    url: body.url,
    events: body.events,
  });
  return c.json({ ...toWebhookJson(webhook), secret }, 201, { Location: `/webhooks/${webhook.id}` });
});
