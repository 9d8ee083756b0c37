import { Client } from "@neondatabase/serverless";
import { describe, expect, it } from "vitest";
import { resealAll } from "../../scripts/reseal-columns.ts";
import { stepAt, totpCode } from "../../src/auth/totp.ts";
import { configureDriver } from "../../src/db/client.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { createSecretBox, keyId, sealedKeyId } from "../../src/pkg/crypto/secret-box.ts";
import { expectOAuthError, me, PASSWORD, signedIn, type Tokens, tokenRequest } from "../auth-helpers.ts";
import { api, apiWith, testEnv } from "../helpers.ts";

// A DATA_ENCRYPTION_KEY rotation end to end (docs/runbook.md, "DATA_ENCRYPTION_KEY"), against the
// real Postgres: values sealed under an old key, `resealAll` (what `npm run secrets:reseal` runs)
// with the old key as DATA_ENCRYPTION_KEY_PREVIOUS, then the API with the old key removed. The new
// key is the test stack's own, so the other test files running meanwhile (whose rows are already
// under it, and are passed over) see nothing change.
const OLD_KEY = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
const oldKeyOnly = { DATA_ENCRYPTION_KEY: OLD_KEY };
const json = (auth: Record<string, string>, method: string, body: unknown): RequestInit => ({
  method,
  headers: { ...auth, "content-type": "application/json" },
  body: JSON.stringify(body),
});

async function withSqlClient<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const { database } = loadApiConfig(testEnv);
  configureDriver(database);
  const client = new Client(database.url);
  client.on("error", () => {});
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function storedSecrets(userId: string, webhookId: string) {
  return withSqlClient(async (client) => {
    await client.query("begin");
    await client.query("select set_config('app.role', 'system', true)");
    const mfa = await client.query<{ sealed: string }>(
      "select secret_ciphertext as sealed from user_mfa where user_id = $1",
      [userId],
    );
    const hook = await client.query<{ sealed: string }>(
      "select secret_ciphertext as sealed from webhooks where id = $1",
      [webhookId],
    );
    await client.query("commit");
    return { mfa: mfa.rows[0]?.sealed ?? "", webhook: hook.rows[0]?.sealed ?? "" };
  });
}

describe("rotating DATA_ENCRYPTION_KEY with npm run secrets:reseal", () => {
  it("re-seals TOTP seeds and webhook secrets, and the API verifies both with the old key removed", async () => {
    // Before the rotation: the API runs with the old key; the user enrols TOTP and registers a webhook.
    const { auth, user } = await signedIn();
    const setup = (await (await apiWith(oldKeyOnly, "/auth/mfa/setup", { method: "POST", headers: auth })).json()) as {
      secret: string;
    };
    const confirmed = await apiWith(
      oldKeyOnly,
      "/auth/mfa/confirm",
      json(auth, "POST", { code: await totpCode(setup.secret, stepAt(Date.now())) }),
    );
    expect(confirmed.status).toBe(200);
    const receiver = `${testEnv.CONTROL_URL}/hooks/rotation-${crypto.randomUUID().slice(0, 8)}`;
    const registered = await apiWith(oldKeyOnly, "/webhooks", json(auth, "POST", { url: receiver }));
    expect(registered.status).toBe(201);
    const { id: webhookId, secret: webhookSecret } = (await registered.json()) as { id: string; secret: string };

    const before = await storedSecrets(user.id, webhookId);
    expect(sealedKeyId(before.mfa)).toBe(await keyId(OLD_KEY));
    expect(sealedKeyId(before.webhook)).toBe(await keyId(OLD_KEY));
    // The seed as a release before key ids sealed it: the re-seal must take those too.
    await withSqlClient(async (client) => {
      await client.query("begin");
      await client.query("select set_config('app.role', 'system', true)");
      await client.query("update user_mfa set secret_ciphertext = $1 where user_id = $2", [
        before.mfa.split(".").slice(0, 3).join("."),
        user.id,
      ]);
      await client.query("commit");
    });

    const newKey = testEnv.DATA_ENCRYPTION_KEY;
    const reports = await withSqlClient((client) =>
      resealAll(client, { current: newKey, previous: [OLD_KEY] }, { batchSize: 1 }),
    );
    expect(reports.map(({ table, column }) => `${table}.${column}`)).toEqual([
      "user_mfa.secret_ciphertext",
      "webhooks.secret_ciphertext",
    ]);
    for (const report of reports) {
      expect(report.resealed).toBeGreaterThanOrEqual(1);
      expect(report.unreadable).not.toContain(user.id);
      expect(report.unreadable).not.toContain(webhookId);
    }

    const after = await storedSecrets(user.id, webhookId);
    expect(sealedKeyId(after.mfa)).toBe(await keyId(newKey));
    expect(sealedKeyId(after.webhook)).toBe(await keyId(newKey));
    expect(await (await createSecretBox(newKey, "webhook-secret")).open(after.webhook)).toBe(webhookSecret);
    await expect((await createSecretBox(OLD_KEY)).open(after.mfa)).rejects.toThrow("not configured");

    // Run again: nothing of this user's is left to re-seal, and nothing changes.
    await withSqlClient((client) => resealAll(client, { current: newKey, previous: [OLD_KEY] }));
    expect(await storedSecrets(user.id, webhookId)).toEqual(after);

    // After the rotation: the API has the new key only (the stack's own; no previous key).
    const challenge = await expectOAuthError(
      await tokenRequest({ grant_type: "password", username: user.email, password: PASSWORD }),
      403,
      "mfa_required",
    );
    const completed = await tokenRequest({
      grant_type: "urn:techcorp:params:oauth:grant-type:mfa-otp",
      mfa_token: challenge.mfa_token ?? "",
      otp: await totpCode(setup.secret, stepAt(Date.now()) + 1),
    });
    expect(completed.status).toBe(200);
    expect((await me(((await completed.json()) as Tokens).access_token)).status).toBe(200);

    await fetch(`${receiver}/answers`, { method: "PUT", body: JSON.stringify([{ status: 200, echoChallenge: true }]) });
    const verified = await api(`/webhooks/${webhookId}/verify`, { method: "POST", headers: auth });
    expect(verified.status).toBe(200);
    expect(await verified.json()).toMatchObject({ id: webhookId, verified: true });
    const [challengeRequest] = (await (await fetch(receiver)).json()) as {
      headers: Record<string, string>;
      body: string;
    }[];
    expect(challengeRequest?.headers["webhook-signature"]).toBe(
      await standardWebhooksSignature(webhookSecret, challengeRequest?.headers ?? {}, challengeRequest?.body ?? ""),
    );
  });
});

/** The Standard Webhooks signature a receiver holding `secret` computes for the request: `v1,<base64 HMAC-SHA256>`. */
async function standardWebhooksSignature(secret: string, headers: Record<string, string>, body: string) {
  const key = await crypto.subtle.importKey(
    "raw",
    Uint8Array.from(atob(secret.replace(/^whsec_/, "")), (c) => c.charCodeAt(0)),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signed = `${headers["webhook-id"]}.${headers["webhook-timestamp"]}.${body}`;
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(signed)));
  return `v1,${btoa(String.fromCharCode(...mac))}`;
}
