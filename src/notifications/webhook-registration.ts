import { type Actor, asActor } from "../db/actor.ts";
import type { DatabaseHandle } from "../db/client.ts";
import { createWebhookWithinCap } from "../db/queries/notifications.ts";
import type { Webhook } from "../db/schema/notifications.ts";
import { createSecretBox, type EncryptionKeyInput } from "../pkg/crypto/secret-box.ts";
import { ApiError } from "../pkg/errors/api-error.ts";
import { generateWebhookSecret, WEBHOOK_SECRET_PURPOSE } from "./webhook-signature.ts";

/** Each user may register this many webhooks (OWASP API4:2023: a bound on what one user makes us send). */
export const MAX_WEBHOOKS_PER_USER = 10;

/** What registering needs: Postgres (its WebSocket mode), who registers, the key that seals secrets. */
export interface WebhookRegistrationDeps {
  database: DatabaseHandle;
  /** Row-level security's actor; the webhook's owner is `webhook.userId`. */
  actor: Actor;
  /** DATA_ENCRYPTION_KEY (base64): the secret is stored sealed (src/pkg/crypto/secret-box.ts). */
  encryptionKey: EncryptionKeyInput;
}

/**
 * Registers a webhook for `webhook.userId`, unverified (no event is delivered to it until its
 * endpoint echoes a challenge: `verifyWebhookEndpoint`). Its signing secret (Standard Webhooks
 * `whsec_…`) is generated here and stored sealed; the plain `secret` is returned to be shown
 * once. The user's count and the insert run in one transaction under a per-user lock
 * (`createWebhookWithinCap`), so concurrent registrations cannot pass `MAX_WEBHOOKS_PER_USER`.
 * The URL is taken as given: check it (`webhookUrlProblem`) before.
 *
 * Throws `ApiError("conflict")` (409) when the user already has `MAX_WEBHOOKS_PER_USER`
 * webhooks, and what `asActor` throws (503 when Postgres cannot be reached); nothing is stored then.
 */
export async function registerWebhook(
  deps: WebhookRegistrationDeps,
  webhook: { userId: string; url: string; events: string[] },
): Promise<{ webhook: Webhook; secret: string }> {
  const secret = generateWebhookSecret();
  const box = await createSecretBox(deps.encryptionKey, WEBHOOK_SECRET_PURPOSE);
  const secretCiphertext = await box.seal(secret);
  const created = await asActor(deps.database.db, deps.actor, async (tx) => {
    const row = await createWebhookWithinCap(tx, { ...webhook, secretCiphertext, max: MAX_WEBHOOKS_PER_USER });
    if (!row) throw new ApiError("conflict", { detail: `At most ${MAX_WEBHOOKS_PER_USER} webhooks per user.` });
    return row;
  });
  return { webhook: created, secret };
}
