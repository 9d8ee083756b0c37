import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { verifyWebhookEndpoint } from "../../notifications/webhook-verification.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { validatorHeaders } from "../conditional.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { ownWebhook } from "./access.ts";
import { webhookDeps } from "./deps.ts";
import { ETAG_HEADER, toWebhookJson, WebhookIdParams, WebhookSchema, webhookValidators } from "./schemas.ts";

const route = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/webhooks/{id}/verify",
    tags: ["Webhooks"],
    summary: "Prove the endpoint wants the deliveries (a signed challenge it must echo)",
    description:
      'POSTs a signed (Standard Webhooks) `webhook.verification` event whose `data.challenge` the endpoint must answer with a 2xx and the JSON body `{"challenge": "<the same value>"}` (at most 4 KiB, within the webhook deadline; redirects are not followed). Until it has, and again after its URL changes, the webhook gets no events. The URL\'s host name is resolved first and must lead to public addresses only.',
    request: { params: WebhookIdParams },
    responses: {
      200: { ...jsonResponse("Verified: the webhook, with its new `ETag`.", WebhookSchema), headers: ETAG_HEADER },
      ...problemResponses(400, 404, 409, 422, 503),
    },
  },
  // It sends a request to a host the caller chose (OWASP API7:2023).
  { rateLimit: "outbound" },
);

export const verifyWebhook = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const webhook = await asCaller(c).transaction((tx) => ownWebhook(c, tx, id));
  const verified = await verifyWebhookEndpoint(webhookDeps(c), webhook);
  return c.json(toWebhookJson(verified), 200, validatorHeaders(await webhookValidators(verified)));
});
