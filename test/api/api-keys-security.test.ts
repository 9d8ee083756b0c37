import { describe, expect, it } from "vitest";
import { generateApiKey, keyChecksum } from "../../src/auth/api-keys.ts";
import { PERMISSION_NAMES } from "../../src/db/schema/users.ts";
import { DEFAULT_POLICIES } from "../../src/gateway/rate-limit-policies.ts";
import { type ApiKeyJson, createApiKey, expiredKeyOf, keyAuth } from "../api-key-helpers.ts";
import { promote, randomIp, signedIn, signedInAdmin } from "../auth-helpers.ts";
import { api, apiWith, expectProblem, testEnv } from "../helpers.ts";
import { type Auth, createProject, expectJson } from "../project-helpers.ts";

/** A text upload, filed in `projectId` when given. */
const upload = (auth: Auth, text: string, projectId?: string) =>
  api(`/documents?title=Doc${projectId ? `&projectId=${projectId}` : ""}`, {
    method: "POST",
    headers: { ...auth, "content-type": "text/plain" },
    body: text,
  });

const uploadedId = async (auth: Auth, text: string, projectId?: string) =>
  (await expectJson<{ id: string }>(await upload(auth, text, projectId), 201)).id;

async function expectInvalidKey(res: Response, reason: RegExp) {
  await expectProblem(res, 401);
  const challenge = res.headers.get("www-authenticate") ?? "";
  expect(challenge).toMatch(/^Bearer realm="techcorp-api", error="invalid_token", error_description="/);
  expect(challenge).toMatch(reason);
}

describe("API keys: refused keys", () => {
  it("a malformed key (bad checksum, wrong length), one we did not tag, and one tagged but never issued are 401", async () => {
    const { user, auth } = await signedIn();
    const { key } = await createApiKey(auth);
    const flipped = `${key.slice(0, -1)}${key.endsWith("0") ? "1" : "0"}`;
    await expectInvalidKey(await api("/users/me", { headers: keyAuth(flipped) }), /malformed/);
    await expectInvalidKey(await api("/users/me", { headers: keyAuth(`${key}x`) }), /malformed/);
    await expectInvalidKey(await api("/users/me", { headers: keyAuth("tcp_") }), /malformed/);
    // Right shape and checksum, naming the user, but not tagged by us: refused in the isolate.
    const body = `tcp_${user.id.replaceAll("-", "")}${"A".repeat(32)}`;
    const untagged = await api("/users/me", { headers: keyAuth(`${body}${keyChecksum(body)}`) });
    await expectInvalidKey(untagged, /malformed or not one of ours/);
    expect(untagged.headers.get("server-timing")).toMatch(/durable-objects;desc="1"/);
    // Tagged by us (as if issued), but not among the user's keys.
    const madeUp = (await generateApiKey(user.id, testEnv.DATA_ENCRYPTION_KEY)).key;
    await expectInvalidKey(await api("/users/me", { headers: keyAuth(madeUp) }), /unknown, revoked or expired/);
  });

  it("an expired key is 401", async () => {
    const { user } = await signedIn();
    await expectInvalidKey(await api("/users/me", { headers: keyAuth(await expiredKeyOf(user.id)) }), /expired/);
  });

  it("a key of a disabled user is 401, and works again once the user is enabled", async () => {
    const admin = await signedInAdmin();
    const { user, auth } = await signedIn();
    const { key } = await createApiKey(auth);
    expect((await api(`/users/${user.id}/disable`, { method: "POST", headers: admin.auth })).status).toBe(200);
    await expectInvalidKey(await api("/users/me", { headers: keyAuth(key) }), /owner is disabled/);
    expect((await api(`/users/${user.id}/enable`, { method: "POST", headers: admin.auth })).status).toBe(200);
    expect((await api("/users/me", { headers: keyAuth(key) })).status).toBe(200);
  });

  it("the key is not retrievable after creation: listings and reads show only its last characters", async () => {
    const admin = await signedInAdmin();
    const { user, auth } = await signedIn();
    const { id, key } = await createApiKey(auth);
    const bodies = await Promise.all([
      api("/api-keys", { headers: auth }).then((r) => r.text()),
      api(`/api-keys/${id}`, { headers: auth }).then((r) => r.text()),
      api(`/users/${user.id}/api-keys`, { headers: admin.auth }).then((r) => r.text()),
    ]);
    for (const body of bodies) {
      expect(body).toContain(key.slice(-4));
      expect(body).not.toContain(key.slice(4, 40));
      expect(body).not.toContain('"key"');
    }
  });
});

describe("API keys: scopes", () => {
  it("keys never manage keys, sessions, second factors, passwords or email addresses, nor delete the account (403), whatever their scopes", async () => {
    const admin = await signedInAdmin();
    const other = await signedIn();
    const { key } = await createApiKey(admin.auth, { scopes: ["read", "write", "users:manage"] });
    const auth = { ...keyAuth(key), "content-type": "application/json" };
    const attempts: [string, string, unknown?][] = [
      ["POST", "/api-keys", { name: "more", scopes: ["read"] }],
      ["GET", "/api-keys"],
      ["DELETE", `/api-keys/${crypto.randomUUID()}`],
      ["GET", `/users/${admin.user.id}/api-keys`],
      ["GET", "/auth/sessions"],
      ["DELETE", "/auth/sessions"],
      ["POST", "/auth/logout"],
      ["POST", "/auth/mfa/setup"],
      ["POST", "/users/me/email", { email: "moved@example.com", currentPassword: "whatever it is" }],
      ["POST", "/users/me/email-verification"],
      ["POST", `/users/${crypto.randomUUID()}/password-reset`],
      // `/users/me` is also matched by `/users/{id}`: the route served decides, not the last match.
      ["DELETE", "/users/me"],
      ["PUT", `/users/${other.user.id}/password`, { password: "a temporary password 1234" }],
      ["DELETE", `/users/${other.user.id}/mfa`],
      ["POST", "/users/me/password", { currentPassword: "whatever it is", newPassword: "another long password 99" }],
      ["POST", "/auth/mfa/recovery-codes", { code: "123456" }],
    ];
    for (const [method, path, body] of attempts) {
      const res = await api(path, { method, headers: auth, ...(body ? { body: JSON.stringify(body) } : {}) });
      const problem = await expectProblem(res, 403);
      expect(problem.detail, `${method} ${path}`).toMatch(/API keys cannot manage/);
    }
    // The session the admin signed in with is untouched, and so is the account.
    expect((await api("/auth/sessions", { headers: admin.auth })).status).toBe(200);
    expect((await api("/users/me", { headers: admin.auth })).status).toBe(200);
  });

  it("a key with users:manage changes another user's profile but not their email address (403)", async () => {
    const admin = await signedInAdmin();
    const other = await signedIn();
    const { key } = await createApiKey(admin.auth, { scopes: ["read", "write", ...PERMISSION_NAMES] });
    const patch = (body: unknown) =>
      api(`/users/${other.user.id}`, {
        method: "PATCH",
        headers: { ...keyAuth(key), "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    expect((await patch({ displayName: "Renamed by a key" })).status).toBe(200);
    for (const body of [{ email: "taken-over@example.com" }, { displayName: "x", email: "b@example.com" }]) {
      const problem = await expectProblem(await patch(body), 403);
      expect(problem.detail).toMatch(/API keys cannot manage/);
    }
    await expectProblem(await patch({ emailVerified: true }), 403);
    const user = await expectJson<{ email: string; displayName: string }>(
      await api(`/users/${other.user.id}`, { headers: admin.auth }),
      200,
    );
    expect(user).toMatchObject({ email: other.user.email, displayName: "Renamed by a key" });
  });

  it("every operation of the OpenAPI document refuses a key exactly when it is declared x-interactive-only", async () => {
    const admin = await signedInAdmin();
    const { key } = await createApiKey(admin.auth, { scopes: ["read", "write", ...PERMISSION_NAMES] });
    // Generous windows for every policy: this walk sends one request per operation with one key.
    const roomy = Object.fromEntries(
      Object.keys(DEFAULT_POLICIES).map((name) => [name, [{ name: "burst", limit: 10_000, windowSeconds: 60 }]]),
    );
    const bindings = { RATE_LIMIT_POLICIES: JSON.stringify(roomy) } as Partial<Env> & object;
    type Operation = { security?: unknown[]; "x-interactive-only"?: boolean; "x-required-action-for"?: string[] };
    const doc = await expectJson<{ paths: Record<string, Record<string, Operation>> }>(await api("/openapi.json"), 200);
    const declared: string[] = [];
    const refused: string[] = [];
    const requiredActions: Record<string, string[]> = {};
    let protectedOperations = 0;
    for (const [template, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (!operation.security?.length) continue;
        protectedOperations++;
        const name = `${method.toUpperCase()} ${template}`;
        if (operation["x-interactive-only"]) declared.push(name);
        if (operation["x-required-action-for"]) requiredActions[name] = operation["x-required-action-for"];
        const path = template.replace(/\{(\w+)\}/g, (_, param: string) =>
          param === "permission" ? "users:read" : ["version", "partNumber"].includes(param) ? "1" : crypto.randomUUID(),
        );
        const write = method !== "get" && method !== "head";
        const res = await apiWith(bindings, path, {
          method: method.toUpperCase(),
          headers: { ...keyAuth(key), ...(write ? { "content-type": "application/json" } : {}) },
          ...(write ? { body: "{}" } : {}),
        });
        expect(res.status, name).toBeLessThan(500);
        const body = await res.text();
        if (res.status === 403 && body.includes("API keys cannot manage")) refused.push(name);
      }
    }
    expect(protectedOperations).toBeGreaterThan(50);
    expect(declared).toContain("DELETE /users/me");
    expect(refused.sort()).toEqual(declared.sort());
    expect(requiredActions).toEqual({
      "GET /auth/mfa": ["CONFIGURE_TOTP"],
      "POST /auth/mfa/setup": ["CONFIGURE_TOTP"],
      "POST /auth/mfa/confirm": ["CONFIGURE_TOTP"],
      "POST /users/me/password": ["UPDATE_PASSWORD"],
    });
  });

  it("a read-only key reads but changes nothing: 403 insufficient_scope naming write", async () => {
    const { auth } = await signedIn();
    const { key } = await createApiKey(auth, { scopes: ["read"] });
    expect((await api("/documents", { headers: keyAuth(key) })).status).toBe(200);
    const res = await upload(keyAuth(key), "not with a read-only key");
    await expectProblem(res, 403);
    expect(res.headers.get("www-authenticate")).toMatch(/error="insufficient_scope".*scope="write"/);
    const patch = await api("/users/me", {
      method: "PATCH",
      headers: { ...keyAuth(key), "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ displayName: "changed by a read key" }),
    });
    await expectProblem(patch, 403);
  });

  it("a key with only a delegated permission reaches that permission's routes and not the owner's documents", async () => {
    const { user, auth } = await signedIn();
    await promote(user.id, { permissions: ["users:read"] });
    const { key } = await createApiKey(auth, { scopes: ["users:read"] });
    expect((await api("/users?limit=1", { headers: keyAuth(key) })).status).toBe(200);
    const res = await api("/documents", { headers: keyAuth(key) });
    await expectProblem(res, 403);
    expect(res.headers.get("www-authenticate")).toMatch(/scope="read"/);
  });

  it("a permission the key was not given is a 403 even when its owner holds it", async () => {
    const admin = await signedInAdmin();
    const { key } = await createApiKey(admin.auth, { scopes: ["read"] });
    const res = await api("/users?limit=1", { headers: keyAuth(key) });
    await expectProblem(res, 403);
    expect(res.headers.get("www-authenticate")).toMatch(/error="insufficient_scope".*scope="users:read"/);
  });

  it("an administrator's key is no administrator: admin-only routes are 403, and it reads only its owner's documents", async () => {
    const admin = await signedInAdmin();
    const other = await signedIn();
    const theirs = await uploadedId(other.auth, "someone else's");
    const { key } = await createApiKey(admin.auth, { scopes: ["read", "write"] });
    await expectProblem(await api("/analytics/search/suppressed-queries", { headers: keyAuth(key) }), 403);
    await expectProblem(await api(`/documents/${theirs}`, { headers: keyAuth(key) }), 404);
    expect((await api(`/documents/${theirs}`, { headers: admin.auth })).status).toBe(200);
  });

  it("a demoted owner's key loses the permission at the next request", async () => {
    const admin = await signedInAdmin();
    const { user, auth } = await signedIn();
    await promote(user.id, { permissions: ["users:read"] });
    const { key } = await createApiKey(auth, { scopes: ["users:read"] });
    expect((await api("/users?limit=1", { headers: keyAuth(key) })).status).toBe(200);
    const revoked = await api(`/users/${user.id}/permissions/users:read`, { method: "DELETE", headers: admin.auth });
    expect(revoked.ok).toBe(true);
    await expectProblem(await api("/users?limit=1", { headers: keyAuth(key) }), 403);
  });
});

describe("API keys: project (service) keys", () => {
  it("reach their project and its documents only: not another project, not personal or shared documents", async () => {
    const owner = await signedIn();
    const [mine, other] = [await createProject(owner.auth), await createProject(owner.auth)];
    const inMine = await uploadedId(owner.auth, "in the key's project", mine.id);
    const inOther = await uploadedId(owner.auth, "in another project", other.id);
    const personal = await uploadedId(owner.auth, "personal");
    const { key } = await createApiKey(owner.auth, { projectId: mine.id });
    const auth = keyAuth(key);

    expect((await api(`/documents/${inMine}`, { headers: auth })).status).toBe(200);
    expect((await api(`/documents/${inMine}/versions`, { headers: auth })).status).toBe(200);
    for (const id of [inOther, personal]) {
      await expectProblem(await api(`/documents/${id}`, { headers: auth }), 404);
      await expectProblem(await api(`/documents/${id}/versions`, { headers: auth }), 404);
      await expectProblem(
        await api(`/documents/${id}`, {
          method: "PATCH",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ title: "reached" }),
        }),
        404,
      );
      await expectProblem(await api(`/documents/${id}`, { method: "DELETE", headers: auth }), 404);
    }
    const listed = await expectJson<{ data: { id: string }[] }>(
      await api("/documents?limit=100", { headers: auth }),
      200,
    );
    expect(listed.data.map((d) => d.id)).toEqual([inMine]);

    for (const path of [
      `/projects/${other.id}`,
      `/projects/${other.id}/members`,
      "/projects",
      "/notifications",
      "/users/me",
      "/search?q=personal",
      "/uploads",
      "/webhooks",
    ]) {
      const problem = await expectProblem(await api(path, { headers: auth }), 403);
      expect(problem.detail, path).toContain(`bound to project ${mine.id}`);
    }
    // Nor can it move its project's document out of the project.
    const moved = await api(`/documents/${inMine}/move`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ projectId: null }),
    });
    expect([403, 404], await moved.clone().text()).toContain(moved.status);
    expect((await api(`/documents/${inMine}`, { headers: auth })).status).toBe(200);
    // Writing outside its project is refused too, and nothing is created.
    expect((await upload(auth, "personal, through a project key")).status).toBe(403);
    expect((await upload(auth, "into another project", other.id)).status).toBe(403);
    const own = await expectJson<{ data: { id: string }[] }>(
      await api("/documents?limit=100", { headers: owner.auth }),
      200,
    );
    expect(own.data).toHaveLength(3);
  });

  it("lose their project with their owner's membership", async () => {
    const owner = await signedIn();
    const project = await createProject(owner.auth);
    const member = await signedIn();
    const invited = await expectJson<{ id: string }>(
      await api(`/projects/${project.id}/invitations`, {
        method: "POST",
        headers: { ...owner.auth, "content-type": "application/json" },
        body: JSON.stringify({ login: member.user.username, role: "editor" }),
      }),
      201,
    );
    expect((await api(`/invitations/${invited.id}/accept`, { method: "POST", headers: member.auth })).status).toBe(200);
    const doc = await uploadedId(owner.auth, "filed", project.id);
    const { key } = await createApiKey(member.auth, { projectId: project.id });
    expect((await api(`/documents/${doc}`, { headers: keyAuth(key) })).status).toBe(200);
    expect(
      (await api(`/projects/${project.id}/members/${member.user.id}`, { method: "DELETE", headers: owner.auth }))
        .status,
    ).toBe(204);
    await expectProblem(await api(`/documents/${doc}`, { headers: keyAuth(key) }), 404);
    await expectProblem(await api(`/projects/${project.id}`, { headers: keyAuth(key) }), 404);
  });
});

describe("API keys: rate limits", () => {
  it("are counted per key: two keys of one user, and the user's session, each have their own windows", async () => {
    const { auth } = await signedIn();
    const [first, second] = [await createApiKey(auth), await createApiKey(auth)];
    const limits = {
      RATE_LIMIT_POLICIES: JSON.stringify({ api: [{ name: "burst", limit: 3, windowSeconds: 600 }] }),
    } as Partial<Env> & object;
    const get = (headers: Record<string, string>) =>
      apiWith(limits, "/users/me", { headers: { ...headers, "cf-connecting-ip": randomIp() } });
    const firstStatuses = [];
    for (let i = 0; i < 4; i++) firstStatuses.push((await get(keyAuth(first.key))).status);
    expect(firstStatuses).toEqual([200, 200, 200, 429]);
    const refused = await get(keyAuth(first.key));
    expect(refused.headers.get("retry-after")).not.toBeNull();
    expect((await get(keyAuth(second.key))).status).toBe(200);
    expect((await get(auth)).status).toBe(200);
  });

  it("a revoked key shows its last use in the listing", async () => {
    const { auth } = await signedIn();
    const created = await createApiKey(auth);
    const ip = randomIp();
    expect((await api("/users/me", { headers: { ...keyAuth(created.key), "cf-connecting-ip": ip } })).status).toBe(200);
    expect((await api(`/api-keys/${created.id}`, { method: "DELETE", headers: auth })).status).toBe(204);
    const listed = await expectJson<{ data: ApiKeyJson[] }>(await api("/api-keys", { headers: auth }), 200);
    expect(listed.data[0]).toMatchObject({ id: created.id, revokedAt: expect.any(String), lastUsedIp: ip });
    expect(listed.data[0]?.lastUsedAt).not.toBeNull();
  });
});
