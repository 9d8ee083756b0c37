import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { callerOf } from "../../gateway/authentication.ts";
import type { WebhookRegistrationDeps } from "../../notifications/webhook-registration.ts";
import type { WebhookVerificationDeps } from "../../notifications/webhook-verification.ts";

/**
 * What the webhook domain functions need from a request: Postgres, the caller as actor, the key
 * that seals webhook secrets and the sender's options (WEBHOOK_* configuration).
 */
export function webhookDeps(c: Context<AppEnv>): WebhookRegistrationDeps & WebhookVerificationDeps {
  const { database, config } = c.get("services");
  return {
    database,
    actor: callerOf(c).actor,
    encryptionKey: config.encryptionKey,
    // Called as `options.fetch(…)`: the runtime's fetch refuses a `this` other than the global scope.
    receiver: { ...config.webhooks, fetch: (input, init) => fetch(input, init) },
  };
}
