import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import type { Transaction } from "../../db/actor.ts";
import { getWebhook, lockWebhook } from "../../db/queries/notifications.ts";
import type { Webhook } from "../../db/schema/notifications.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { requireWritePreconditions } from "../conditional.ts";
import { webhookValidators } from "./schemas.ts";

// A webhook is its owner's alone: every lookup names the caller's id (row-level security agrees),
// and another user's webhook gets the same 404 as one that does not exist.

/** The 404 `not_found` problem for webhook `id`. */
export const webhookNotFound = (id: string) => new ApiError("not_found", { detail: `No webhook ${id}.` });

/** The caller's webhook `id`, read in `tx`; throws 404 `not_found` when the caller has none of that id. */
export async function ownWebhook(c: Context<AppEnv>, tx: Transaction, id: string): Promise<Webhook> {
  const row = await getWebhook(tx, { userId: callerOf(c).userId, id });
  if (!row) throw webhookNotFound(id);
  return row;
}

/**
 * Locks the caller's webhook `id` (`for update`) in the writing transaction `tx`, for a conditional
 * write: throws 404 `not_found` when the caller has none of that id, 412 `precondition_failed`
 * unless the request's If-Match holds for it now (RFC 9110 §13.1.1; `requireWritePreconditions`).
 */
export async function lockOwnWebhookForWrite(c: Context<AppEnv>, tx: Transaction, id: string): Promise<void> {
  const current = await lockWebhook(tx, { userId: callerOf(c).userId, id });
  if (!current) throw webhookNotFound(id);
  requireWritePreconditions(c, await webhookValidators(current));
}
