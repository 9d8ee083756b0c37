import { describe, expect, it } from "vitest";
import {
  enrolMfaDirectly,
  login,
  PASSWORD,
  promote,
  randomIp,
  register,
  signedIn,
  signedInAdmin,
  type UserJson,
  uniqueName,
} from "../auth-helpers.ts";
import { api, expectProblem } from "../helpers.ts";

const jsonInit = (method: string, headers: Record<string, string>, body: unknown): RequestInit => ({
  method,
  headers: { ...headers, "content-type": "application/json" },
  body: JSON.stringify(body),
});

const registerRaw = (body: unknown) => api("/users", jsonInit("POST", { "cf-connecting-ip": randomIp() }, body));

describe("POST /users (registration)", () => {
  it("creates a user, lower-cases the email, and never returns the password hash", async () => {
    const username = uniqueName("Ada");
    const res = await registerRaw({
      email: `${username}@Example.COM`,
      username,
      password: PASSWORD,
      displayName: "Ada",
    });
    expect(res.status).toBe(201);
    const user = (await res.json()) as UserJson & Record<string, unknown>;
    expect(res.headers.get("location")).toBe(`/users/${user.id}`);
    expect(user).toMatchObject({
      email: `${username}@example.com`.toLowerCase(),
      username,
      role: "user",
      status: "active",
    });
    expect(JSON.stringify(user)).not.toMatch(/password|pbkdf2/i);
  });

  it("answers a taken email or username, whatever the case, as a new account, creating nothing (test/api/throttles.test.ts)", async () => {
    const { user } = await register();
    const byEmail = await registerRaw({ email: user.email.toUpperCase(), username: uniqueName(), password: PASSWORD });
    expect(byEmail.status).toBe(201);
    expect(((await byEmail.json()) as UserJson).id).not.toBe(user.id);
    const byName = await registerRaw({
      email: `${uniqueName()}@example.com`,
      username: user.username.toUpperCase(),
      password: PASSWORD,
    });
    expect(byName.status).toBe(201);
    expect(((await byName.json()) as UserJson).id).not.toBe(user.id);
  });

  it("names every invalid field", async () => {
    const problem = await expectProblem(
      await registerRaw({ email: "not-an-email", username: "a", password: "short" }),
      400,
    );
    expect(problem.errors?.map((e) => e.pointer).sort()).toEqual(["/email", "/password", "/username"]);
  });

  it("refuses fields the client may not set, such as role", async () => {
    const username = uniqueName();
    const problem = await expectProblem(
      await registerRaw({ email: `${username}@example.com`, username, password: PASSWORD, role: "admin" }),
      400,
    );
    expect(problem.detail).toContain("role");
    for (const extra of [{ emailVerified: true }, { status: "disabled" }, { permissions: ["users:manage"] }]) {
      const name = uniqueName();
      await expectProblem(
        await registerRaw({ email: `${name}@example.com`, username: name, password: PASSWORD, ...extra }),
        400,
      );
    }
  });
});

describe("/users/me", () => {
  it("returns the caller", async () => {
    const { user, auth } = await signedIn();
    const res = await api("/users/me", { headers: auth });
    expect(res.status).toBe(200);
    expect(((await res.json()) as UserJson).id).toBe(user.id);
  });

  it("updates profile fields and merges preferences (null removes a key)", async () => {
    const { auth } = await signedIn();
    await api(
      "/users/me",
      jsonInit("PATCH", auth, { displayName: "Ada L.", preferences: { theme: "dark", lang: "en" } }),
    );
    const res = await api(
      "/users/me",
      jsonInit("PATCH", auth, { timezone: "Europe/Paris", preferences: { lang: null, beta: true } }),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      displayName: "Ada L.",
      timezone: "Europe/Paris",
      preferences: { theme: "dark", beta: true },
    });
  });

  it("refuses mass assignment of role, status, permissions or identity attributes, changing nothing", async () => {
    const { auth } = await signedIn();
    for (const body of [
      { role: "admin" },
      { status: "disabled" },
      { displayName: "x", role: "admin" },
      { email: "a@b.c" },
      { emailVerified: true },
      { username: "someone-else" },
      { permissions: ["users:manage"] },
      { id: crypto.randomUUID() },
      { passwordHash: "x" },
      { updatedAt: "2000-01-01T00:00:00Z" },
    ]) {
      const problem = await expectProblem(await api("/users/me", jsonInit("PATCH", auth, body)), 400);
      expect(problem.type).toBe("/problems/validation_failed");
    }
    const me = (await (await api("/users/me", { headers: auth })).json()) as UserJson;
    expect(me.role).toBe("user");
    expect(me.displayName).toBeNull();
  });

  it("validates profile values", async () => {
    const { auth } = await signedIn();
    const problem = await expectProblem(
      await api("/users/me", jsonInit("PATCH", auth, { timezone: "Mars/Olympus", avatarUrl: "javascript:alert(1)" })),
      400,
    );
    expect(problem.errors?.map((e) => e.pointer).sort()).toEqual(["/avatarUrl", "/timezone"]);
  });

  it("needs a token", async () => {
    const res = await api("/users/me");
    await expectProblem(res, 401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="techcorp-api"');
  });
});

describe("another user's data (BOLA)", () => {
  it("is out of reach of a plain user, whatever the route", async () => {
    const alice = await signedIn();
    const bob = await signedIn();
    await expectProblem(await api(`/users/${bob.user.id}`, { headers: alice.auth }), 403);
    await expectProblem(
      await api(`/users/${bob.user.id}`, jsonInit("PATCH", alice.auth, { displayName: "pwned" })),
      403,
    );
    await expectProblem(await api(`/users/${bob.user.id}/permissions`, { headers: alice.auth }), 403);
    const bobNow = (await (await api("/users/me", { headers: bob.auth })).json()) as UserJson;
    expect(bobNow.displayName).toBeNull();
  });

  it("is readable with the users:read permission, but not writable without users:write", async () => {
    const reader = await signedIn();
    await promote(reader.user.id, { permissions: ["users:read"] });
    const other = await register();
    expect((await api(`/users/${other.user.id}`, { headers: reader.auth })).status).toBe(200);
    await expectProblem(
      await api(`/users/${other.user.id}`, jsonInit("PATCH", reader.auth, { displayName: "x" })),
      403,
    );
  });
});

describe("admin routes", () => {
  it("are refused to a plain user with 403", async () => {
    const { auth, user } = await signedIn();
    const calls: [string, RequestInit][] = [
      ["/users", { headers: auth }],
      [`/users/${user.id}/role`, jsonInit("PUT", auth, { role: "admin" })],
      [`/users/${user.id}/disable`, { method: "POST", headers: auth }],
      [`/users/${user.id}/enable`, { method: "POST", headers: auth }],
      [`/users/${user.id}`, { method: "DELETE", headers: auth }],
      [`/users/${user.id}/permissions/users:read`, { method: "PUT", headers: auth }],
      [`/users/${user.id}/permissions/users:read`, { method: "DELETE", headers: auth }],
    ];
    for (const [path, init] of calls) {
      const problem = await expectProblem(await api(path, init), 403);
      expect(problem.type).toBe("/problems/forbidden");
    }
    const me = (await (await api("/users/me", { headers: auth })).json()) as UserJson;
    expect(me.role).toBe("user");
  });

  it("list users with filters and keyset pagination without duplicates", async () => {
    const admin = await signedInAdmin();
    const tag = uniqueName("page");
    const created = [];
    for (let i = 0; i < 5; i++) created.push((await register({ username: `${tag}-${i}` })).user.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/users?search=${tag}&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = (await (await api(query, { headers: admin.auth })).json()) as {
        data: UserJson[];
        nextCursor: string | null;
      };
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((u) => u.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...created].reverse());

    const admins = (await (await api("/users?role=admin&limit=100", { headers: admin.auth })).json()) as {
      data: UserJson[];
    };
    expect(admins.data.every((u) => u.role === "admin")).toBe(true);
    expect(admins.data.map((u) => u.id)).toContain(admin.user.id);
    await expectProblem(await api("/users?cursor=garbage", { headers: admin.auth }), 400);
  });

  it("get and update another user's profile, email and username", async () => {
    const admin = await signedInAdmin();
    const { user } = await register();
    const newName = uniqueName("renamed");
    const res = await api(
      `/users/${user.id}`,
      jsonInit("PATCH", admin.auth, { username: newName, emailVerified: true }),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ username: newName, emailVerified: true });
    await expectProblem(await api(`/users/${crypto.randomUUID()}`, { headers: admin.auth }), 404);
  });

  it("refuse another account's email or username, whatever the case, with a 409 naming the field, changing nothing", async () => {
    const admin = await signedInAdmin();
    const { user } = await register();
    const { user: other } = await register();
    for (const [field, value] of [
      ["email", other.email.toUpperCase()],
      ["username", other.username.toUpperCase()],
    ] as const) {
      const problem = await expectProblem(
        await api(`/users/${user.id}`, jsonInit("PATCH", admin.auth, { [field]: value, displayName: "Taken" })),
        409,
      );
      expect(problem.type).toBe("/problems/conflict");
      expect(problem.errors).toEqual([{ in: "body", pointer: `/${field}`, message: "already taken" }]);
    }
    const after = (await (await api(`/users/${user.id}`, { headers: admin.auth })).json()) as UserJson;
    expect(after).toMatchObject({ email: user.email, username: user.username, displayName: user.displayName });
  });

  it("change a role, effective on the user's very next request", async () => {
    const admin = await signedInAdmin();
    const target = await signedIn();
    // Staff must use a second factor: without one the new admin would only be let enrol it.
    await enrolMfaDirectly(target.user.id);
    await expectProblem(await api("/users", { headers: target.auth }), 403);
    const res = await api(`/users/${target.user.id}/role`, jsonInit("PUT", admin.auth, { role: "admin" }));
    expect(((await res.json()) as UserJson).role).toBe("admin");
    expect((await api("/users", { headers: target.auth })).status).toBe(200);
    await api(`/users/${target.user.id}/role`, jsonInit("PUT", admin.auth, { role: "user" }));
    await expectProblem(await api("/users", { headers: target.auth }), 403);
  });

  it("disable a user, ending all their sessions, and enable them again", async () => {
    const admin = await signedInAdmin();
    const target = await signedIn();
    const res = await api(`/users/${target.user.id}/disable`, { method: "POST", headers: admin.auth });
    expect(((await res.json()) as UserJson).status).toBe("disabled");
    await expectProblem(await api("/users/me", { headers: target.auth }), 401);
    await expectProblem(
      await api("/auth/refresh", jsonInit("POST", {}, { refresh_token: target.tokens.refresh_token })),
      400,
    );
    await api(`/users/${target.user.id}/enable`, { method: "POST", headers: admin.auth });
    expect((await login(target.user.username)).access_token).toBeTruthy();
  });

  it("grant and revoke permissions, effective at once", async () => {
    const admin = await signedInAdmin();
    const target = await signedIn();
    await enrolMfaDirectly(target.user.id);
    const granted = await api(`/users/${target.user.id}/permissions/users:read`, {
      method: "PUT",
      headers: admin.auth,
    });
    expect(await granted.json()).toEqual({ permissions: ["users:read"] });
    expect((await api("/users", { headers: target.auth })).status).toBe(200);
    const revoked = await api(`/users/${target.user.id}/permissions/users:read`, {
      method: "DELETE",
      headers: admin.auth,
    });
    expect(await revoked.json()).toEqual({ permissions: [] });
    await expectProblem(await api("/users", { headers: target.auth }), 403);
    await expectProblem(
      await api(`/users/${target.user.id}/permissions/everything`, { method: "PUT", headers: admin.auth }),
      400,
    );
  });

  it("delete a user and their sessions", async () => {
    const admin = await signedInAdmin();
    const target = await signedIn();
    expect((await api(`/users/${target.user.id}`, { method: "DELETE", headers: admin.auth })).status).toBe(204);
    await expectProblem(await api(`/users/${target.user.id}`, { headers: admin.auth }), 404);
    await expectProblem(await api("/users/me", { headers: target.auth }), 401);
  });

  it("cannot disable, demote or delete their own account, nor grant themselves anything (grant rule: not on oneself)", async () => {
    const admin = await signedInAdmin();
    const id = admin.user.id;
    await expectProblem(await api(`/users/${id}/disable`, { method: "POST", headers: admin.auth }), 403);
    await expectProblem(await api(`/users/${id}`, { method: "DELETE", headers: admin.auth }), 403);
    await expectProblem(await api(`/users/${id}/role`, jsonInit("PUT", admin.auth, { role: "user" })), 403);
    await expectProblem(await api(`/users/${id}/permissions/users:read`, { method: "PUT", headers: admin.auth }), 403);
    const me = (await (await api("/users/me", { headers: admin.auth })).json()) as UserJson;
    expect(me).toMatchObject({ role: "admin", status: "active" });
  });

  it("refuse properties no body may set (mass assignment), changing nothing", async () => {
    const admin = await signedInAdmin();
    const { user } = await register();
    for (const body of [
      { role: "admin" },
      { status: "disabled" },
      { permissions: ["users:manage"] },
      { id: crypto.randomUUID() },
      { passwordHash: "x" },
      { createdAt: "2000-01-01T00:00:00Z" },
      { lastLoginAt: "2000-01-01T00:00:00Z" },
      { displayName: "x", role: "admin" },
    ]) {
      const problem = await expectProblem(await api(`/users/${user.id}`, jsonInit("PATCH", admin.auth, body)), 400);
      expect(problem.type).toBe("/problems/validation_failed");
    }
    const now = (await (await api(`/users/${user.id}`, { headers: admin.auth })).json()) as UserJson;
    expect(now).toMatchObject({ role: "user", status: "active", displayName: null });
  });

  it("validate their input and answer 404 for unknown users", async () => {
    const admin = await signedInAdmin();
    const { user } = await register();
    const badRole = await expectProblem(
      await api(`/users/${user.id}/role`, jsonInit("PUT", admin.auth, { role: "root" })),
      400,
    );
    expect(badRole.errors?.[0]?.pointer).toBe("/role");
    await expectProblem(await api("/users/not-a-uuid", { headers: admin.auth }), 400);
    await expectProblem(await api("/users?limit=1000", { headers: admin.auth }), 400);
    const unknown = crypto.randomUUID();
    await expectProblem(await api(`/users/${unknown}/enable`, { method: "POST", headers: admin.auth }), 404);
    await expectProblem(await api(`/users/${unknown}/role`, jsonInit("PUT", admin.auth, { role: "user" })), 404);
    await expectProblem(await api(`/users/${unknown}/permissions`, { headers: admin.auth }), 404);
    await expectProblem(
      await api(`/users/${unknown}/permissions/users:read`, { method: "PUT", headers: admin.auth }),
      404,
    );
    await expectProblem(await api(`/users/${unknown}`, { method: "DELETE", headers: admin.auth }), 404);
  });
});
