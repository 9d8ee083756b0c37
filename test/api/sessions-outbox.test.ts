import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { generateApiKey } from "../../src/auth/api-keys.ts";
import type { Sessions } from "../../src/durable-objects/sessions.ts";
import worker from "../../workers/api/index.ts";
import { json } from "../account-helpers.ts";
import { createApiKey, keyAuth } from "../api-key-helpers.ts";
import { login, me, PASSWORD, randomIp, refresh, signedIn, signedInAdmin, tokenRequest } from "../auth-helpers.ts";
import { api, apiWith, asSystem, captureLines, expectProblem, testEnv } from "../helpers.ts";
import { waitForMail } from "../mail-helpers.ts";

const NEW_PASSWORD = "an outbox-proof passphrase 2026";

/**
 * The SESSIONS namespace with the object of `userId` unreachable: every call to it rejects, as a
 * Durable Object that cannot be reached does (other users' objects answer, so the caller's own
 * session is still checked by the gateway).
 */
function unreachableFor(userId: string): DurableObjectNamespace<Sessions> {
  const real = testEnv.SESSIONS;
  const target = real.idFromName(userId);
  const failing = new Proxy(
    {},
    {
      get: (_, name) =>
        name === "then" ? undefined : () => Promise.reject(new Error("Durable Object unreachable (test fault)")),
    },
  );
  return new Proxy(real, {
    get(namespace, name) {
      if (name === "get") return (id: DurableObjectId) => (id.equals(target) ? failing : namespace.get(id));
      const value = Reflect.get(namespace, name);
      return typeof value === "function" ? value.bind(namespace) : value;
    },
  });
}

/** The API worker's cron run as the runtime runs it, `minutesLater` after now (rows older than a minute are settled). */
async function runCron(minutesLater = 2): Promise<void> {
  const controller = createScheduledController({
    scheduledTime: new Date(Date.now() + minutesLater * 60_000),
    cron: "* * * * *",
  });
  await worker.scheduled(controller, testEnv, createExecutionContext());
}

/**
 * Sends `init` to `path` with the SESSIONS object of `userId` unreachable and asserts the answer:
 * a 503 problem (the change committed before the call failed). The app's error log is captured.
 */
async function answered503WithoutSessionsOf(userId: string, path: string, init: RequestInit): Promise<void> {
  let res: Response | undefined;
  await captureLines(async () => {
    res = await apiWith({ SESSIONS: unreachableFor(userId) }, path, init);
  });
  if (!res) throw new Error("no response");
  await expectProblem(res, 503);
}

/** The session `auth` of `userId` still answers; after the cron's run it is refused and the user's outbox is empty. */
async function expectEndedByCron(userId: string, auth: Record<string, string>): Promise<void> {
  expect((await api("/users/me", { headers: auth })).status).toBe(200);
  await runCron();
  await expectProblem(await api("/users/me", { headers: auth }), 401);
  expect(await outboxOf(userId)).toEqual([]);
}

const outboxOf = (userId: string) =>
  asSystem(async (tx) => {
    const rows = await tx.execute<{ reason: string; not_before: string | null; key_ids: string[] }>(
      sql`select reason, not_before, key_ids from sessions_outbox where user_id = ${userId} order by id`,
    );
    return rows.rows;
  });

/** The token of a mailed link (`…#token=<token>`). */
function tokenOf(mail: { links: string[] }): string {
  const link = mail.links.find((url) => url.includes("#token="));
  if (!link) throw new Error(`no token link in ${JSON.stringify(mail.links)}`);
  return decodeURIComponent(link.slice(link.indexOf("#token=") + "#token=".length));
}

/** A JSON POST from a fresh address (the `auth` rate limit counts per address). */
const post = (body: unknown): RequestInit => json("POST", { "cf-connecting-ip": randomIp() }, body);

describe("the SESSIONS outbox: a change whose SESSIONS call fails still takes effect", () => {
  it("a password reset answered 503: the password is set, and the cron ends the old sessions and keys", async () => {
    const victim = await signedIn();
    const otherDevice = await login(victim.user.username);
    const key = await createApiKey(victim.auth);
    await api("/auth/password-reset", post({ email: victim.user.email }));
    const token = tokenOf(await waitForMail(victim.user.email, "Reset your password"));

    await answered503WithoutSessionsOf(
      victim.user.id,
      "/auth/password-reset/confirm",
      post({ token, password: NEW_PASSWORD }),
    );
    // Committed: the new password signs in, the old one does not; the key is revoked in Postgres.
    expect(
      (await tokenRequest({ grant_type: "password", username: victim.user.username, password: PASSWORD })).status,
    ).toBe(400);
    const [queued] = await outboxOf(victim.user.id);
    expect(queued).toMatchObject({ reason: "password_reset", key_ids: [key.id] });
    expect(queued?.not_before).not.toBeNull();
    // Not yet applied: what an intruder held still works until the cron runs.
    expect((await api("/users/me", { headers: victim.auth })).status).toBe(200);

    await runCron();
    await expectProblem(await api("/users/me", { headers: victim.auth }), 401);
    await expectProblem(await me(otherDevice.access_token), 401);
    expect((await refresh(otherDevice.refresh_token)).status).toBe(400);
    await expectProblem(await api("/users/me", { headers: keyAuth(key.key) }), 401);
    expect(await outboxOf(victim.user.id)).toEqual([]);
    expect((await login(victim.user.username, NEW_PASSWORD)).access_token).toBeTruthy();
  });

  it("an admin's temporary password answered 503: the cron ends the target's sessions", async () => {
    const admin = await signedInAdmin();
    const target = await signedIn();
    await answered503WithoutSessionsOf(
      target.user.id,
      `/users/${target.user.id}/password`,
      json("PUT", admin.auth, { password: "a temporary horse battery staple" }),
    );
    await expectEndedByCron(target.user.id, target.auth);
  });

  it("an admin disabling an account answered 503: the cron stores the principal and refuses its sessions", async () => {
    const admin = await signedInAdmin();
    const target = await signedIn();
    await answered503WithoutSessionsOf(target.user.id, `/users/${target.user.id}/disable`, {
      method: "POST",
      headers: admin.auth,
    });
    expect(await outboxOf(target.user.id)).toEqual([{ reason: "principal_changed", not_before: null, key_ids: [] }]);
    await expectEndedByCron(target.user.id, target.auth);
  });

  it("rows younger than a minute wait: the request applied them, the next run settles them", async () => {
    const admin = await signedInAdmin();
    const target = await signedIn();
    const res = await api(`/users/${target.user.id}/disable`, { method: "POST", headers: admin.auth });
    expect(res.status).toBe(200);
    await expectProblem(await api("/users/me", { headers: target.auth }), 401);
    await runCron(0);
    expect(await outboxOf(target.user.id)).toHaveLength(1);
    await runCron();
    expect(await outboxOf(target.user.id)).toEqual([]);
  });
});

describe("applying a revocation twice (the request, then the cron)", () => {
  it("keeps the session that changed its password and every session started after the change", async () => {
    const mine = await signedIn();
    const otherDevice = await login(mine.user.username);
    const res = await api(
      "/users/me/password",
      json(
        "POST",
        { ...mine.auth, "cf-connecting-ip": randomIp() },
        { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
      ),
    );
    expect(res.status).toBe(204);
    await expectProblem(await me(otherDevice.access_token), 401);
    const later = await login(mine.user.username, NEW_PASSWORD);
    const laterKey = await createApiKey(mine.auth);

    await runCron();
    expect((await api("/users/me", { headers: mine.auth })).status).toBe(200);
    expect((await me(later.access_token)).status).toBe(200);
    expect((await api("/users/me", { headers: keyAuth(laterKey.key) })).status).toBe(200);
    expect(await outboxOf(mine.user.id)).toEqual([]);
  });

  it("a key whose live copy arrives after the revocation that named it is refused; another is kept", async () => {
    const { user } = await signedIn();
    const stub = testEnv.SESSIONS.get(testEnv.SESSIONS.idFromName(user.id));
    const revoked = await generateApiKey(user.id, testEnv.DATA_ENCRYPTION_KEY);
    const other = await generateApiKey(user.id, testEnv.DATA_ENCRYPTION_KEY);
    const revokedId = crypto.randomUUID();
    const otherId = crypto.randomUUID();
    const expiresAt = Date.now() + 3_600_000;

    const applied = await stub.applyRevocation({ notBefore: null, keepSessionId: null, keyIds: [revokedId] });
    expect(applied).toEqual({ sessions: 0, keys: 0 });
    await stub.addKey({ id: revokedId, hash: revoked.hash, scopes: ["read"], projectId: null, expiresAt });
    await stub.addKey({ id: otherId, hash: other.hash, scopes: ["read"], projectId: null, expiresAt });
    expect(await stub.keyIdOf(revoked.hash)).toBeNull();
    expect(await stub.keyIdOf(other.hash)).toBe(otherId);
  });
});
