import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalReadHeaders, readPreconditions, validatorHeaders } from "../conditional.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { ownWebhook } from "./access.ts";
import { ETAG_HEADER, toWebhookJson, WebhookIdParams, WebhookSchema, webhookValidators } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "get",
  path: "/webhooks/{id}",
  tags: ["Webhooks"],
  summary: "A webhook",
  request: { params: WebhookIdParams, headers: ConditionalReadHeaders },
  responses: {
    200: { ...jsonResponse("The webhook, with its `ETag`.", WebhookSchema), headers: ETAG_HEADER },
    304: { description: "Unchanged (If-None-Match).", headers: ETAG_HEADER },
    ...problemResponses(400, 404, 412, 503),
  },
});

export const readWebhook = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const row = await asCaller(c).transaction((tx) => ownWebhook(c, tx, id));
  const validators = await webhookValidators(row);
  const notModified = readPreconditions(c, validators);
  if (notModified) return notModified;
  return c.json(toWebhookJson(row), 200, validatorHeaders(validators));
});
