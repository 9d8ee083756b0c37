import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { API_KEY_PATTERN, keyChecksum, parseApiKey } from "../../src/auth/api-keys.ts";
import { type ApiKeyJson, createApiKey, keyAuth, postApiKey } from "../api-key-helpers.ts";
import { promote, randomIp, signedIn, signedInAdmin } from "../auth-helpers.ts";
import { api, apiWith, asSystem, expectProblem, testEnv } from "../helpers.ts";
import { createProject, expectJson } from "../project-helpers.ts";

const DAY_MS = 86_400_000;

const listKeys = async (auth: Record<string, string>) =>
  (await expectJson<{ data: ApiKeyJson[] }>(await api("/api-keys", { headers: auth }), 200)).data;

const auditOf = (keyId: string) =>
  asSystem(async (tx) =>
    (
      await tx.execute<{ action: string; actor_id: string; target_user_id: string }>(
        sql`select action, actor_id, target_user_id from audit_events where details->>'keyId' = ${keyId} order by id`,
      )
    ).rows.map((row) => ({ action: row.action, actorId: row.actor_id, targetUserId: row.target_user_id })),
  );

describe("API keys: happy paths", () => {
  it("a created key is shown once, in our format, and works on several routes until revoked", async () => {
    const { user, auth } = await signedIn();
    const res = await postApiKey(auth, { name: "CI", scopes: ["read", "write"] });
    const created = await expectJson<ApiKeyJson & { key: string }>(res, 201);
    expect(res.headers.get("location")).toBe(`/api-keys/${created.id}`);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(created.key).toMatch(API_KEY_PATTERN);
    expect(created.key.startsWith(`tcp_${user.id.replaceAll("-", "")}`)).toBe(true);
    expect(created).toMatchObject({ name: "CI", kind: "personal", prefix: "tcp_", scopes: ["read", "write"] });
    expect(created.lastCharacters).toBe(created.key.slice(-4));
    expect(created.lastUsedAt).toBeNull();

    const ip = randomIp();
    const headers = { ...keyAuth(created.key), "cf-connecting-ip": ip };
    const profile = await expectJson<{ id: string }>(await api("/users/me", { headers }), 200);
    expect(profile.id).toBe(user.id);
    expect((await api("/documents", { headers })).status).toBe(200);
    expect((await api("/notifications", { headers })).status).toBe(200);
    const uploaded = await api("/documents?title=From%20a%20key", {
      method: "POST",
      headers: { ...headers, "content-type": "text/plain" },
      body: "uploaded with an API key",
    });
    expect(uploaded.status).toBe(201);
    expect(((await uploaded.json()) as { ownerId: string }).ownerId).toBe(user.id);

    const [listed] = await listKeys(auth);
    expect(listed).toMatchObject({ id: created.id, lastUsedIp: ip, revokedAt: null });
    expect(Date.parse(listed?.lastUsedAt ?? "")).toBeGreaterThanOrEqual(Date.parse(created.createdAt));
    const one = await expectJson<ApiKeyJson>(await api(`/api-keys/${created.id}`, { headers: auth }), 200);
    expect(one).toMatchObject({ id: created.id, lastUsedIp: ip });

    expect((await api(`/api-keys/${created.id}`, { method: "DELETE", headers: auth })).status).toBe(204);
    const refused = await api("/users/me", { headers: keyAuth(created.key) });
    await expectProblem(refused, 401);
    expect(refused.headers.get("www-authenticate")).toMatch(/error="invalid_token".*revoked/);
    const [revoked] = await listKeys(auth);
    expect(revoked?.revokedAt).not.toBeNull();
    // Revoking again succeeds and records nothing more.
    expect((await api(`/api-keys/${created.id}`, { method: "DELETE", headers: auth })).status).toBe(204);
    expect(await auditOf(created.id)).toEqual([
      { action: "api_key.created", actorId: user.id, targetUserId: user.id },
      { action: "api_key.revoked", actorId: user.id, targetUserId: user.id },
    ]);
  });

  it("expiry: a default lifetime when none is asked for, the one asked for otherwise", async () => {
    const { auth } = await signedIn();
    const defaulted = await createApiKey(auth);
    const lifetime = Date.parse(defaulted.expiresAt) - Date.parse(defaulted.createdAt);
    expect(Math.round(lifetime / DAY_MS)).toBe(30);
    const expiresAt = new Date(Date.now() + 7 * DAY_MS).toISOString();
    const chosen = await createApiKey(auth, { expiresAt });
    expect(Date.parse(chosen.expiresAt)).toBe(Date.parse(expiresAt));
  });

  it("a delegated permission the creator holds can be a scope, and then works through the key", async () => {
    const { user, auth } = await signedIn();
    await promote(user.id, { permissions: ["users:read"] });
    const key = await createApiKey(auth, { scopes: ["users:read"] });
    expect((await api("/users?limit=1", { headers: keyAuth(key.key) })).status).toBe(200);
  });

  it("a project (service) key reaches its project and the documents filed in it", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const key = await createApiKey(owner.auth, { projectId: project.id });
    expect(key).toMatchObject({ kind: "project", projectId: project.id });
    const auth = keyAuth(key.key);
    expect((await api(`/projects/${project.id}`, { headers: auth })).status).toBe(200);
    expect((await api(`/projects/${project.id}/members`, { headers: auth })).status).toBe(200);
    const filed = await api(`/documents?projectId=${project.id}&title=Filed`, {
      method: "POST",
      headers: { ...auth, "content-type": "text/plain" },
      body: "filed by a service key",
    });
    expect(filed.status).toBe(201);
    const { id } = (await filed.json()) as { id: string };
    expect((await api(`/documents/${id}`, { headers: auth })).status).toBe(200);
  });

  it("administrators list and revoke any user's keys", async () => {
    const admin = await signedInAdmin();
    const { user, auth } = await signedIn();
    const key = await createApiKey(auth);
    const listed = await expectJson<{ data: ApiKeyJson[] }>(
      await api(`/users/${user.id}/api-keys`, { headers: admin.auth }),
      200,
    );
    expect(listed.data.map((k) => k.id)).toEqual([key.id]);
    expect(JSON.stringify(listed)).not.toContain(key.key);
    expect((await api(`/users/${user.id}/api-keys/${key.id}`, { method: "DELETE", headers: admin.auth })).status).toBe(
      204,
    );
    await expectProblem(await api("/users/me", { headers: keyAuth(key.key) }), 401);
    expect(await auditOf(key.id)).toEqual([
      { action: "api_key.created", actorId: user.id, targetUserId: user.id },
      { action: "api_key.revoked", actorId: admin.user.id, targetUserId: user.id },
    ]);
  });

  it("the checksum lets anyone tell a key of ours from a look-alike offline", async () => {
    const { auth } = await signedIn();
    const { key } = await createApiKey(auth);
    expect(keyChecksum(key.slice(0, -6))).toBe(key.slice(-6));
    expect(await parseApiKey(key, testEnv.DATA_ENCRYPTION_KEY)).toBeDefined();
    const typo = `${key.slice(0, 40)}${key[40] === "a" ? "b" : "a"}${key.slice(41)}`;
    expect(keyChecksum(typo.slice(0, -6))).not.toBe(typo.slice(-6));
    expect(await parseApiKey(typo, testEnv.DATA_ENCRYPTION_KEY)).toBeUndefined();
  });
});

describe("API keys: errors", () => {
  it("a delegated scope the creator does not hold is a 403, and nothing is created", async () => {
    const { auth } = await signedIn();
    const res = await postApiKey(auth, { name: "too much", scopes: ["read", "users:read"] });
    const problem = await expectProblem(res, 403);
    expect(problem.detail).toContain("users:read");
    expect(await listKeys(auth)).toEqual([]);
  });

  it("an unknown scope, no scope, a blank name or an unknown member is a 400", async () => {
    const { auth } = await signedIn();
    for (const body of [
      { name: "x", scopes: ["admin"] },
      { name: "x", scopes: [] },
      { name: "  ", scopes: ["read"] },
      { name: "x", scopes: ["read"], role: "admin" },
    ]) {
      await expectProblem(await postApiKey(auth, body), 400);
    }
  });

  it("an expiry in the past or beyond the maximum is a 400 naming expiresAt", async () => {
    const { auth } = await signedIn();
    for (const expiresAt of [
      new Date(Date.now() - 60_000).toISOString(),
      new Date(Date.now() + 366 * DAY_MS).toISOString(),
      "tomorrow",
    ]) {
      const problem = await expectProblem(await postApiKey(auth, { name: "x", scopes: ["read"], expiresAt }), 400);
      expect(new Set(problem.errors?.map((e) => e.pointer))).toEqual(new Set(["/expiresAt"]));
    }
  });

  it("unknown ids are 404: reading, revoking, another user's key, and an administrator's revoke", async () => {
    const admin = await signedInAdmin();
    const { user, auth } = await signedIn();
    const other = await signedIn();
    const theirs = await createApiKey(other.auth);
    for (const id of [crypto.randomUUID(), theirs.id]) {
      await expectProblem(await api(`/api-keys/${id}`, { headers: auth }), 404);
      await expectProblem(await api(`/api-keys/${id}`, { method: "DELETE", headers: auth }), 404);
    }
    await expectProblem(
      await api(`/users/${user.id}/api-keys/${theirs.id}`, { method: "DELETE", headers: admin.auth }),
      404,
    );
    // The other user's key still works.
    expect((await api("/users/me", { headers: keyAuth(theirs.key) })).status).toBe(200);
  });

  it("a project the creator is not a member of is a 404", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const { auth } = await signedIn();
    await expectProblem(await postApiKey(auth, { name: "x", scopes: ["read"], projectId: project.id }), 404);
    await expectProblem(await postApiKey(auth, { name: "x", scopes: ["read"], projectId: crypto.randomUUID() }), 404);
  });

  it("past API_KEYS_PER_USER unrevoked keys, creating one is a 409 until one is revoked", async () => {
    const { auth } = await signedIn();
    const post = () =>
      apiWith({ API_KEYS_PER_USER: "2" } as Partial<Env> & object, "/api-keys", {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ name: "capped", scopes: ["read"] }),
      });
    const results = await Promise.all([post(), post(), post()]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 201, 409]);
    const first = (await results.find((r) => r.status === 201)?.json()) as { id: string };
    expect((await api(`/api-keys/${first.id}`, { method: "DELETE", headers: auth })).status).toBe(204);
    expect((await post()).status).toBe(201);
  });
});
