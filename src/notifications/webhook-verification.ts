import { type Actor, asActor } from "../db/actor.ts";
import type { DatabaseHandle } from "../db/client.ts";
import { markWebhookVerified } from "../db/queries/notifications.ts";
import type { Webhook } from "../db/schema/notifications.ts";
import { createSecretBox, type EncryptionKeyInput } from "../pkg/crypto/secret-box.ts";
import { ApiError, DependencyError } from "../pkg/errors/api-error.ts";
import { postToReceiver, type ReceiverOptions, type ReceiverResult } from "./webhook-request.ts";
import { WEBHOOK_SECRET_PURPOSE } from "./webhook-signature.ts";

/**
 * Whether the receiver echoed `challenge`: a 2xx whose body is JSON `{"challenge": "<the same>"}`
 * (read up to MAX_RECEIVER_ANSWER_BYTES). Otherwise what it did instead, in our words: the
 * receiver's own text is never passed on (OWASP API10).
 */
export function challengeFailure(result: ReceiverResult, challenge: string): string | undefined {
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

/** What verifying needs: Postgres (its WebSocket mode), who asks, the key that opens secrets, how to send. */
export interface WebhookVerificationDeps {
  database: DatabaseHandle;
  /** Row-level security's actor: the webhook's owner (or whoever may change it). */
  actor: Actor;
  /** DATA_ENCRYPTION_KEY (and the previous keys): one of them sealed the webhook's secret. */
  encryptionKey: EncryptionKeyInput;
  /** The URL rules, resolver, deadline (ms) and outgoing fetch (WEBHOOK_* configuration). */
  receiver: ReceiverOptions;
}

/**
 * Proves that the receiver at `webhook.url` wants the deliveries: POSTs a `webhook.verification`
 * event, signed with the webhook's secret (Standard Webhooks), whose `data.challenge` (a random
 * UUID) it must echo (`challengeFailure`), then records the webhook verified, only while it still
 * has that URL. Resolves to the webhook as it now is.
 *
 * Throws `ApiError("unprocessable_content")` (422) when the URL may not be sent to or the
 * receiver did not echo the challenge (the detail says why, in our words); `DependencyError`
 * ("DNS resolver", 503) when the resolver could not tell where the URL's name leads;
 * `ApiError("conflict")` (409) when the webhook's URL changed while the challenge was out (it
 * stays unverified); and what `asActor` throws.
 */
export async function verifyWebhookEndpoint(deps: WebhookVerificationDeps, webhook: Webhook): Promise<Webhook> {
  const box = await createSecretBox(deps.encryptionKey, WEBHOOK_SECRET_PURPOSE);
  const challenge = crypto.randomUUID();
  const result = await postToReceiver(
    webhook.url,
    {
      id: `verify_${crypto.randomUUID()}`,
      secret: await box.open(webhook.secretCiphertext),
      body: JSON.stringify({ type: "webhook.verification", timestamp: new Date().toISOString(), data: { challenge } }),
      readBody: true,
    },
    deps.receiver,
  );
  if (result.kind === "refused")
    throw new ApiError("unprocessable_content", { detail: `Not verified: ${result.reason}.` });
  if (result.kind === "unresolved") throw new DependencyError("DNS resolver", new Error(result.reason));
  const failure = challengeFailure(result, challenge);
  if (failure) throw new ApiError("unprocessable_content", { detail: `Not verified: ${failure}.` });
  const verified = await asActor(deps.database.db, deps.actor, (tx) =>
    markWebhookVerified(tx, { userId: webhook.userId, id: webhook.id, url: webhook.url }),
  );
  if (!verified) throw new ApiError("conflict", { detail: "The webhook's URL changed meanwhile; verify again." });
  return verified;
}
