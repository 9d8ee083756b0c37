import { createHmac } from "node:crypto";
import { inject } from "vitest";

/**
 * Accounts for the client tests (SDK, CLI, browser), made through the API served by the clients
 * project's `wrangler dev` (`apiUrl`), with their address confirmed through the stack's real inbox
 * (stack/smtp.ts): sharing needs a confirmed address.
 */

export interface TestAccount {
  username: string;
  email: string;
  password: string;
}

/** The API the clients project serves (test/setup/clients-api.ts). */
export const apiUrl = () => inject("apiUrl");
const inboxUrl = () => {
  const url = inject("stack").MAIL_INBOX_URL;
  if (!url) throw new Error("the stack provides no MAIL_INBOX_URL");
  return url;
};

let counter = 0;
/** A fresh account's details (not registered). */
export function newAccount(prefix = "client"): TestAccount {
  const username = `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`;
  return {
    username,
    email: `${username}@example.test`,
    password: `correct horse battery ${(counter * 7919).toString(36)} staple`,
  };
}

/** Registers `account` (`POST /users`). */
export async function register(account: TestAccount): Promise<void> {
  const response = await fetch(`${apiUrl()}/users`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(account),
  });
  if (response.status !== 201) throw new Error(`registration: ${response.status} ${await response.text()}`);
}

/**
 * The link of the newest mail to `to` whose subject matches, waiting for it to arrive (the
 * processor sends mails from the notifications queue).
 */
export async function mailedLink(to: string, subject: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(`${inboxUrl()}/api/messages?to=${encodeURIComponent(to)}`);
    const mails = (await response.json()) as { subject: string; text: string }[];
    const link = mails.find((mail) => subject.test(mail.subject))?.text.match(/https?:\/\/\S+#token=\S+/)?.[0];
    if (link) return link;
    if (Date.now() > deadline) throw new Error(`no mail to ${to} matching ${subject} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Registers `account` and confirms its address with the mailed link's token. */
export async function registerVerified(account = newAccount()): Promise<TestAccount> {
  await register(account);
  const link = await mailedLink(account.email, /confirm|verify/i);
  const token = new URL(link).hash.replace(/^#token=/, "");
  const response = await fetch(`${apiUrl()}/auth/email-verification`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: decodeURIComponent(token) }),
  });
  if (response.status !== 200) throw new Error(`verification: ${response.status} ${await response.text()}`);
  return account;
}

/** An access token of `account` (the first-party client's password grant). */
export async function accessToken(account: TestAccount): Promise<string> {
  const response = await fetch(`${apiUrl()}/auth/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      grant_type: "password",
      client_id: "techcorp-first-party",
      username: account.username,
      password: account.password,
    }),
  });
  if (response.status !== 200) throw new Error(`token: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s steps) of a base32 secret at `step`. */
export function totp(secret: string, step: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const char of secret.replace(/=+$/, "").toUpperCase())
    bits += alphabet.indexOf(char).toString(2).padStart(5, "0");
  const key = Buffer.from((bits.match(/.{8}/g) ?? []).map((byte) => Number.parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = (mac.at(-1) ?? 0) & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}
