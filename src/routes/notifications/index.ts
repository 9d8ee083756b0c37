import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { asActor, batchAsActor, firstRow, READ_ONLY, type Transaction } from "../../db/actor.ts";
import {
  createWebhookWithinCap,
  deleteWebhook,
  getWebhook,
  listDeliveries,
  listWebhooks,
  lockWebhook,
  markAllRead,
  markRead,
  markWebhookVerified,
  notificationsPage,
  selectNotificationsPage,
  selectUnreadCount,
  updateWebhook,
} from "../../db/queries/notifications.ts";
import type { Webhook } from "../../db/schema/notifications.ts";
import { requireAuth } from "../../gateway/authentication.ts";
import { postToReceiver, type ReceiverResult } from "../../notifications/webhook-request.ts";
import { generateWebhookSecret, WEBHOOK_SECRET_PURPOSE } from "../../notifications/webhook-signature.ts";
import { webhookUrlProblem } from "../../notifications/webhook-url.ts";
import { createSecretBox } from "../../pkg/crypto/secret-box.ts";
import { ApiError, DependencyError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { cursorParam, pageOf } from "../../pkg/pagination/cursor.ts";
import {
  ConditionalReadHeaders,
  ConditionalWriteHeaders,
  readPreconditions,
  requireWritePreconditions,
  validatorHeaders,
  validatorsOf,
} from "../conditional.ts";
import { BEARER, json } from "../openapi.ts";
import {
  CreatedWebhookSchema,
  CreateWebhookSchema,
  DeliverySchema,
  IdParams,
  ListNotificationsQuery,
  NotificationPageSchema,
  NotificationSchema,
  ReadAllSchema,
  toDeliveryJson,
  toNotificationJson,
  toWebhookJson,
  UpdateWebhookSchema,
  WebhookSchema,
} from "./schemas.ts";

/** Each user may register this many webhooks. */
export const MAX_WEBHOOKS_PER_USER = 10;

const jsonBody = <S>(schema: S) => ({ required: true, content: { "application/json": { schema } } });

/** Runs as the caller; every query below also names the caller's id (row-level security agrees). */
function mine<T>(c: Context<AppEnv>, work: (tx: Transaction, userId: string) => Promise<T>): Promise<T> {
  const { actor, userId } = c.get("auth");
  return asActor(c.get("services").database.db, actor, (tx) => work(tx, userId));
}

function checkUrl(c: Context<AppEnv>, url: string): void {
  const problem = webhookUrlProblem(url, c.get("services").config.webhooks);
  if (problem) {
    throw new ApiError("validation_failed", {
      detail: `body /url: ${problem}`,
      errors: [{ in: "body", pointer: "/url", message: problem }],
    });
  }
}

/**
 * Whether the receiver echoed `challenge`: a 2xx whose body is JSON `{"challenge": "<the same>"}`
 * (read up to MAX_RECEIVER_ANSWER_BYTES). Otherwise what it did instead, in our words: the
 * receiver's own text is never passed on (OWASP API10).
 */
function challengeFailure(result: ReceiverResult, challenge: string): string | undefined {
  if (result.kind !== "answered") return result.reason;
  if (result.status >= 300 && result.status < 400) {
    return `the endpoint answered ${result.status}; redirects are not followed`;
  }
  if (result.status < 200 || result.status >= 300) return `the endpoint answered ${result.status}`;
  if (result.body === undefined) return "the endpoint's answer is too large";
  let echoed: unknown;
  try {
    echoed = (JSON.parse(result.body) as { challenge?: unknown } | null)?.challenge;
  } catch {
    echoed = undefined;
  }
  return echoed === challenge ? undefined : "the endpoint did not echo the challenge";
}

const webhookNotFound = (id: string) => new ApiError("not_found", { detail: `No webhook ${id}.` });

/**
 * A webhook's validator: the strong ETag of its JSON representation. Webhooks keep no
 * modification date, so they have no Last-Modified and If-Unmodified-Since is ignored
 * (RFC 9110 §13.1.4).
 */
const webhookValidators = (row: Webhook) => validatorsOf(toWebhookJson(row));

/** Locks the caller's webhook in the writing transaction; 412 unless If-Match holds for it now. */
async function lockedForWrite(c: Context<AppEnv>, tx: Transaction, userId: string, id: string): Promise<void> {
  const current = await lockWebhook(tx, { userId, id });
  if (!current) throw webhookNotFound(id);
  requireWritePreconditions(c, await webhookValidators(current));
}

const ETAG_HEADER = {
  ETag: {
    description: "Strong entity tag of this representation; send it in If-Match to make a change conditional.",
    schema: { type: "string" as const },
  },
};
const CONDITIONAL =
  "With `If-Match` (the webhook's ETag), only if the webhook has not changed since: otherwise 412 and nothing changes.";

const list = createRoute({
  method: "get",
  path: "/notifications",
  tags: ["Notifications"],
  summary: "My notifications, newest first",
  description:
    "In-app notifications (document ready, quarantined, failed). Keyset-paginated; `unread=true` for unread only.",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { query: ListNotificationsQuery },
  responses: { 200: { description: "A page.", ...json(NotificationPageSchema) }, ...problemResponses(400, 401, 503) },
});

const read = createRoute({
  method: "post",
  path: "/notifications/{id}/read",
  tags: ["Notifications"],
  summary: "Mark a notification read",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { params: IdParams },
  responses: {
    200: { description: "The notification.", ...json(NotificationSchema) },
    ...problemResponses(400, 401, 404, 503),
  },
});

const readAll = createRoute({
  method: "post",
  path: "/notifications/read-all",
  tags: ["Notifications"],
  summary: "Mark every notification read",
  security: BEARER,
  middleware: [requireAuth()] as const,
  responses: { 200: { description: "How many changed.", ...json(ReadAllSchema) }, ...problemResponses(401, 503) },
});

const hooks = createRoute({
  method: "get",
  path: "/webhooks",
  tags: ["Webhooks"],
  summary: "My webhooks",
  security: BEARER,
  middleware: [requireAuth()] as const,
  responses: {
    200: { description: "Webhooks.", ...json(z.object({ data: z.array(WebhookSchema) })) },
    ...problemResponses(401, 503),
  },
});

const create = createRoute({
  method: "post",
  path: "/webhooks",
  tags: ["Webhooks"],
  summary: "Register a webhook (the secret is shown once)",
  description: `Notifications are POSTed as JSON, signed per Standard Webhooks, and retried with exponential backoff until the endpoint answers 2xx (then given up and recorded as failed). It starts unverified and gets no events until \`POST /webhooks/{id}/verify\` succeeds. https to a public host (no loopback, private, link-local or internal address or name) outside the local stack; at most ${MAX_WEBHOOKS_PER_USER} per user, also under concurrent registrations.`,
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { body: jsonBody(CreateWebhookSchema) },
  responses: {
    201: { description: "Registered; keep the secret.", ...json(CreatedWebhookSchema) },
    ...problemResponses(400, 401, 409, 415, 503),
  },
});

const getOne = createRoute({
  method: "get",
  path: "/webhooks/{id}",
  tags: ["Webhooks"],
  summary: "A webhook",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { params: IdParams, headers: ConditionalReadHeaders },
  responses: {
    200: { description: "The webhook, with its `ETag`.", headers: ETAG_HEADER, ...json(WebhookSchema) },
    304: { description: "Unchanged (If-None-Match).", headers: ETAG_HEADER },
    ...problemResponses(400, 401, 404, 412, 503),
  },
});

const update = createRoute({
  method: "patch",
  path: "/webhooks/{id}",
  tags: ["Webhooks"],
  summary: "Change a webhook's URL, events, or pause it",
  description: CONDITIONAL,
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { params: IdParams, headers: ConditionalWriteHeaders, body: jsonBody(UpdateWebhookSchema) },
  responses: {
    200: { description: "The webhook, with its new `ETag`.", headers: ETAG_HEADER, ...json(WebhookSchema) },
    ...problemResponses(400, 401, 404, 412, 415, 503),
  },
});

const remove = createRoute({
  method: "delete",
  path: "/webhooks/{id}",
  tags: ["Webhooks"],
  summary: "Remove a webhook",
  description: CONDITIONAL,
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { params: IdParams, headers: ConditionalWriteHeaders },
  responses: { 204: { description: "Removed." }, ...problemResponses(400, 401, 404, 412, 503) },
});

const verify = createRoute({
  method: "post",
  path: "/webhooks/{id}/verify",
  tags: ["Webhooks"],
  summary: "Prove the endpoint wants the deliveries (a signed challenge it must echo)",
  description:
    'POSTs a signed (Standard Webhooks) `webhook.verification` event whose `data.challenge` the endpoint must answer with a 2xx and the JSON body `{"challenge": "<the same value>"}` (at most 4 KiB, within the webhook deadline; redirects are not followed). Until it has, and again after its URL changes, the webhook gets no events. The URL\'s host name is resolved first and must lead to public addresses only.',
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { params: IdParams },
  responses: {
    200: { description: "Verified: the webhook, with its new `ETag`.", headers: ETAG_HEADER, ...json(WebhookSchema) },
    ...problemResponses(400, 401, 404, 409, 422, 503),
  },
});

const deliveries = createRoute({
  method: "get",
  path: "/webhooks/{id}/deliveries",
  tags: ["Webhooks"],
  summary: "The latest deliveries to a webhook (status, attempts, last error)",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { params: IdParams },
  responses: {
    200: { description: "Newest first, at most 50.", ...json(z.object({ data: z.array(DeliverySchema) })) },
    ...problemResponses(400, 401, 404, 503),
  },
});

export const notificationsRouter = createRouter()
  .openapi(list, async (c) => {
    const query = c.req.valid("query");
    const after = cursorParam(query.cursor);
    const { actor, userId } = c.get("auth");
    // The page and the count in one HTTP round trip, one snapshot apart at most.
    const [rows, unread] = await batchAsActor(
      c.get("services").database.http,
      actor,
      (db) => [
        selectNotificationsPage(db, { userId, limit: query.limit, unreadOnly: query.unread, after }),
        selectUnreadCount(db, { userId }),
      ],
      READ_ONLY,
    );
    const { page, nextCursor } = pageOf(notificationsPage(rows), query.limit);
    return c.json({ data: page.map(toNotificationJson), nextCursor, unreadCount: firstRow(unread)?.count ?? 0 }, 200);
  })
  .openapi(readAll, async (c) => c.json({ updated: await mine(c, (tx, userId) => markAllRead(tx, { userId })) }, 200))
  .openapi(read, async (c) => {
    const { id } = c.req.valid("param");
    const row = await mine(c, (tx, userId) => markRead(tx, { userId, id }));
    if (!row) throw new ApiError("not_found", { detail: `No notification ${id}.` });
    return c.json(toNotificationJson(row), 200);
  })
  .openapi(hooks, async (c) => {
    const rows = await mine(c, (tx, userId) => listWebhooks(tx, { userId }));
    return c.json({ data: rows.map(toWebhookJson) }, 200);
  })
  .openapi(create, async (c) => {
    const body = c.req.valid("json");
    checkUrl(c, body.url);
    const secret = generateWebhookSecret();
    const box = await createSecretBox(c.get("services").config.encryptionKey, WEBHOOK_SECRET_PURPOSE);
    const secretCiphertext = await box.seal(secret);
    const row = await mine(c, async (tx, userId) => {
      const created = await createWebhookWithinCap(tx, {
        userId,
        url: body.url,
        secretCiphertext,
        events: body.events,
        max: MAX_WEBHOOKS_PER_USER,
      });
      if (!created) throw new ApiError("conflict", { detail: `At most ${MAX_WEBHOOKS_PER_USER} webhooks per user.` });
      return created;
    });
    return c.json({ ...toWebhookJson(row), secret }, 201, { Location: `/webhooks/${row.id}` });
  })
  .openapi(getOne, async (c) => {
    const { id } = c.req.valid("param");
    const row = await mine(c, (tx, userId) => getWebhook(tx, { userId, id }));
    if (!row) throw webhookNotFound(id);
    const validators = await webhookValidators(row);
    const notModified = readPreconditions(c, validators);
    if (notModified) return notModified;
    return c.json(toWebhookJson(row), 200, validatorHeaders(validators));
  })
  .openapi(update, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    if (body.url !== undefined) checkUrl(c, body.url);
    const row = await mine(c, async (tx, userId) => {
      await lockedForWrite(c, tx, userId, id);
      return updateWebhook(tx, { userId, id, ...body });
    });
    if (!row) throw webhookNotFound(id);
    return c.json(toWebhookJson(row), 200, validatorHeaders(await webhookValidators(row)));
  })
  .openapi(remove, async (c) => {
    const { id } = c.req.valid("param");
    const removed = await mine(c, async (tx, userId) => {
      await lockedForWrite(c, tx, userId, id);
      return deleteWebhook(tx, { userId, id });
    });
    if (!removed) throw webhookNotFound(id);
    return c.body(null, 204);
  })
  .openapi(verify, async (c) => {
    const { id } = c.req.valid("param");
    const { config } = c.get("services");
    const row = await mine(c, (tx, userId) => getWebhook(tx, { userId, id }));
    if (!row) throw webhookNotFound(id);
    const box = await createSecretBox(config.encryptionKey, WEBHOOK_SECRET_PURPOSE);
    const challenge = crypto.randomUUID();
    const result = await postToReceiver(
      row.url,
      {
        id: `verify_${crypto.randomUUID()}`,
        secret: await box.open(row.secretCiphertext),
        body: JSON.stringify({
          type: "webhook.verification",
          timestamp: new Date().toISOString(),
          data: { challenge },
        }),
        readBody: true,
      },
      { ...config.webhooks, fetch: (input, init) => fetch(input, init) },
    );
    if (result.kind === "refused")
      throw new ApiError("unprocessable_content", { detail: `Not verified: ${result.reason}.` });
    if (result.kind === "unresolved") throw new DependencyError("DNS resolver", new Error(result.reason));
    const failure = challengeFailure(result, challenge);
    if (failure) throw new ApiError("unprocessable_content", { detail: `Not verified: ${failure}.` });
    const verified = await mine(c, (tx, userId) => markWebhookVerified(tx, { userId, id, url: row.url }));
    if (!verified) throw new ApiError("conflict", { detail: "The webhook's URL changed meanwhile; verify again." });
    return c.json(toWebhookJson(verified), 200, validatorHeaders(await webhookValidators(verified)));
  })
  .openapi(deliveries, async (c) => {
    const { id } = c.req.valid("param");
    const rows = await mine(c, async (tx, userId) => {
      if (!(await getWebhook(tx, { userId, id }))) throw webhookNotFound(id);
      return listDeliveries(tx, { webhookId: id, limit: 50 });
    });
    return c.json({ data: rows.map(toDeliveryJson) }, 200);
  });
