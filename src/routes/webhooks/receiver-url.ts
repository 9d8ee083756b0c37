import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { webhookUrlProblem } from "../../notifications/webhook-url.ts";
import { invalidField } from "../../pkg/errors/api-error.ts";

/**
 * Refuses a receiver URL the webhook rules forbid (src/notifications/webhook-url.ts: https to a
 * public host outside the local stack; OWASP API7:2023, SSRF): throws 400 `validation_failed`
 * naming `body /url`. The name is not resolved here; verification and every delivery resolve it.
 */
export function requireReceiverUrl(c: Context<AppEnv>, url: string): void {
  const problem = webhookUrlProblem(url, c.get("services").config.webhooks);
  if (problem) throw invalidField("body", "/url", problem);
}
