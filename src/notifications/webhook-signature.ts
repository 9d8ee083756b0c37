/**
 * Webhook signatures as the Standard Webhooks specification defines them (the scheme Svix and
 * others use): the secret is `whsec_` + base64 key bytes; each request carries `webhook-id`,
 * `webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
 * "<id>.<timestamp>.<body>">`. Receivers verify with any Standard Webhooks library.
 */

/** The database keeps webhook secrets sealed for this purpose (src/pkg/crypto/secret-box.ts). */
export const WEBHOOK_SECRET_PURPOSE = "webhook-secret";

const PREFIX = "whsec_";
const KEY_BYTES = 32;

const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/** A new signing secret, shown to the user once. */
export function generateWebhookSecret(): string {
  return PREFIX + toBase64(crypto.getRandomValues(new Uint8Array(KEY_BYTES)));
}

function keyBytes(secret: string): Uint8Array<ArrayBuffer> {
  if (!secret.startsWith(PREFIX)) throw new Error("not a webhook secret");
  return Uint8Array.from(atob(secret.slice(PREFIX.length)), (c) => c.charCodeAt(0));
}

export interface SignedHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/** The headers that sign `body` for delivery `id` at `timestamp` (seconds). */
export async function signWebhook(secret: string, id: string, timestamp: number, body: string): Promise<SignedHeaders> {
  const key = await crypto.subtle.importKey("raw", keyBytes(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${id}.${timestamp}.${body}`));
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": `v1,${toBase64(new Uint8Array(mac))}`,
  };
}
