import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { updateWebhook } from "../../db/queries/notifications.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalWriteHeaders, validatorHeaders } from "../conditional.ts";
import { jsonBody, jsonResponse, protectedRoute } from "../openapi.ts";
import { lockOwnWebhookForWrite, webhookNotFound } from "./access.ts";
import { requireReceiverUrl } from "./receiver-url.ts";
import {
  CONDITIONAL,
  ETAG_HEADER,
  toWebhookJson,
  UpdateWebhookSchema,
  WebhookIdParams,
  WebhookSchema,
  webhookValidators,
} from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "patch",
  path: "/webhooks/{id}",
  tags: ["Webhooks"],
  summary: "Change a webhook's URL, events, or pause it",
  description: CONDITIONAL,
  request: { params: WebhookIdParams, headers: ConditionalWriteHeaders, body: jsonBody(UpdateWebhookSchema) },
  responses: {
    200: { ...jsonResponse("The webhook, with its new `ETag`.", WebhookSchema), headers: ETAG_HEADER },
    ...problemResponses(400, 404, 412, 415, 503),
  },
});

export const changeWebhook = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const body = c.req.valid("json");
  if (body.url !== undefined) requireReceiverUrl(c, body.url);
  const { userId } = callerOf(c);
  const row = await asCaller(c).transaction(async (tx) => {
    await lockOwnWebhookForWrite(c, tx, id);
    return updateWebhook(tx, { userId, id, ...body });
  });
  if (!row) throw webhookNotFound(id);
  return c.json(toWebhookJson(row), 200, validatorHeaders(await webhookValidators(row)));
});
