import { beforeAll, describe, expect, it } from "vitest";
import { type AuthDeps, externalLogin } from "../../src/auth/auth-service.ts";
import { stepAt, totpCode } from "../../src/auth/totp.ts";
import {
  bearer,
  expectOAuthError,
  login,
  type OAuthErrorJson,
  PASSWORD,
  promote,
  randomIp,
  refresh,
  register,
  signedIn,
  signedInAdmin,
  type Tokens,
  tokenRequest,
} from "../auth-helpers.ts";
import { config, handle, jsonInit, verifiedUser } from "../grant-helpers.ts";
import { api, eventually, expectProblem, testEnv } from "../helpers.ts";

// The audit log through the API: who may read it (GET /audit for admins, one's own events at
// GET /users/me/security-events), its filters and pages, and that each security event the
// platform records today appears with its actor, target, address, user agent and the request id of
// the response that caused it; a change that fails records nothing.

interface SecurityEventJson {
  id: number;
  occurredAt: string;
  action: string;
  outcome: "success" | "failure";
  actorId: string | null;
  targetUserId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: Record<string, unknown>;
}

interface Page {
  data: SecurityEventJson[];
  nextCursor: string | null;
}

let admin: Awaited<ReturnType<typeof signedInAdmin>>;
beforeAll(async () => {
  admin = await signedInAdmin();
});

const USER_AGENT = "audit-test/1.0";

/** GET /audit with `query` as the admin: the page. */
async function auditPage(query: Record<string, string>): Promise<Page> {
  const res = await api(`/audit?${new URLSearchParams(query)}`, { headers: admin.auth });
  expect(res.status).toBe(200);
  return (await res.json()) as Page;
}

/**
 * The events the request `res` answered caused, once there are `count` (refusals are recorded
 * after the response, so they may take a moment).
 */
async function eventsOf(res: Response, count = 1): Promise<SecurityEventJson[]> {
  const requestId = res.headers.get("x-request-id") ?? "";
  expect(requestId).not.toBe("");
  return eventually(async () => {
    const { data } = await auditPage({ requestId });
    return data.length >= count ? data : undefined;
  });
}

/** The one event of `action` that the request `res` answered caused. */
async function eventOf(res: Response, action: string): Promise<SecurityEventJson> {
  const events = await eventually(async () => {
    const found = (await eventsOf(res)).filter((event) => event.action === action);
    return found.length > 0 ? found : undefined;
  });
  expect(events).toHaveLength(1);
  const [event] = events;
  if (!event) throw new Error("no event");
  expect(event.requestId).toBe(res.headers.get("x-request-id"));
  return event;
}

/** A password grant from `ip` with our user agent. */
const passwordGrant = (username: string, password: string, ip = randomIp()) =>
  api("/auth/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip, "user-agent": USER_AGENT },
    body: new URLSearchParams({ grant_type: "password", username, password }).toString(),
  });

/** A request as `auth` from `ip` with our user agent. */
const from = (ip: string, auth: Record<string, string>, init: RequestInit = {}): RequestInit => ({
  ...init,
  headers: { ...auth, ...(init.headers as Record<string, string>), "cf-connecting-ip": ip, "user-agent": USER_AGENT },
});

describe("GET /audit and GET /users/me/security-events: who may read", () => {
  it("refuses /audit to an anonymous caller (401), a user and a delegated administrator (403)", async () => {
    await expectProblem(await api("/audit"), 401);
    const { auth } = await signedIn();
    await expectProblem(await api("/audit", { headers: auth }), 403);
    const delegate = await signedIn();
    await promote(delegate.user.id, { permissions: ["users:read", "users:manage", "permissions:manage"] });
    await expectProblem(await api("/audit", { headers: delegate.auth }), 403);
  });

  it("refuses /users/me/security-events to an anonymous caller (401)", async () => {
    await expectProblem(await api("/users/me/security-events"), 401);
  });

  it("shows a user the events about their own account only", async () => {
    const alice = await signedIn();
    const bob = await signedIn();
    const wrong = await passwordGrant(bob.user.username, "not the password");
    expect(wrong.status).toBe(400);
    await eventOf(wrong, "user.login_failed");
    const res = await api("/users/me/security-events?limit=100", { headers: alice.auth });
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as Page;
    expect(data.length).toBeGreaterThan(0);
    expect(data.every((event) => event.targetUserId === alice.user.id)).toBe(true);
    expect(data.map((event) => event.action)).toEqual(
      expect.arrayContaining(["user.registered", "user.login_succeeded"]),
    );
  });

  it("shows a user the address of a refused login to their account, not an administrator's", async () => {
    const { user } = await signedIn();
    const attacker = randomIp();
    await eventOf(await passwordGrant(user.email, "guessing", attacker), "user.login_failed");
    const adminIp = randomIp();
    const disabled = await api(`/users/${user.id}/disable`, from(adminIp, admin.auth, { method: "POST" }));
    expect(disabled.status).toBe(200);
    await api(`/users/${user.id}/enable`, from(adminIp, admin.auth, { method: "POST" }));
    // The user signs in again: the disable ended their sessions.
    const tokens = await login(user.username);
    const res = await api("/users/me/security-events?action=user.login_failed,user.disabled", {
      headers: bearer(tokens.access_token),
    });
    const { data } = (await res.json()) as Page;
    const failed = data.find((event) => event.action === "user.login_failed");
    expect(failed).toMatchObject({ ip: attacker, userAgent: USER_AGENT, actorId: null, outcome: "failure" });
    const byAdmin = data.find((event) => event.action === "user.disabled");
    expect(byAdmin).toMatchObject({ actorId: admin.user.id, ip: null, userAgent: null });
    // The administrators' own view keeps the address.
    expect(await eventOf(disabled, "user.disabled")).toMatchObject({ ip: adminIp });
  });
});

describe("GET /audit: filters and pages", () => {
  it("filters by action (exact, several, or an object's), outcome, actor, target, time and request id", async () => {
    const { user } = await signedIn();
    const ip = randomIp();
    const wrong = [await passwordGrant(user.username, "wrong", ip), await passwordGrant(user.username, "wrong", ip)];
    for (const res of wrong) await eventOf(res, "user.login_failed");
    const target = { targetUserId: user.id };

    const all = (await auditPage(target)).data;
    expect(all.map((event) => event.action).sort()).toEqual(
      ["user.login_failed", "user.login_failed", "user.login_succeeded", "user.registered"].sort(),
    );
    const failed = (await auditPage({ ...target, action: "user.login_failed" })).data;
    expect(failed).toHaveLength(2);
    expect((await auditPage({ ...target, outcome: "failure" })).data).toEqual(failed);
    expect((await auditPage({ ...target, outcome: "success" })).data).toHaveLength(2);
    expect((await auditPage({ ...target, action: "user.registered,user.login_succeeded" })).data).toHaveLength(2);
    expect((await auditPage({ ...target, action: "user.*" })).data).toHaveLength(4);
    expect((await auditPage({ ...target, action: "mfa.*" })).data).toHaveLength(0);
    // The user acted in their registration and login; nobody signed in tried the wrong passwords.
    expect((await auditPage({ ...target, actorId: user.id })).data).toHaveLength(2);

    const oldest = all[all.length - 1];
    const newest = all[0];
    if (!oldest || !newest) throw new Error("no events");
    expect((await auditPage({ ...target, until: oldest.occurredAt })).data).toHaveLength(0);
    expect((await auditPage({ ...target, since: oldest.occurredAt })).data).toHaveLength(4);
    const afterNewest = new Date(Date.parse(newest.occurredAt) + 1).toISOString();
    expect((await auditPage({ ...target, since: afterNewest })).data).toHaveLength(0);
    const requestId = wrong[0]?.headers.get("x-request-id") ?? "";
    expect((await auditPage({ requestId })).data.map((event) => event.requestId)).toEqual([requestId]);
  });

  it("pages newest first with a cursor, every event once", async () => {
    const { user } = await signedIn();
    for (let i = 0; i < 3; i++) await login(user.username);
    const everything = (await auditPage({ targetUserId: user.id })).data;
    expect(everything).toHaveLength(5);
    const ids = everything.map((event) => event.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const query: Record<string, string> = { targetUserId: user.id, limit: "2" };
      if (cursor) query.cursor = cursor;
      const page = await auditPage(query);
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((event) => event.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(ids);
  });

  it("refuses an unknown action, a malformed filter or a cursor it did not issue (400), naming the parameter", async () => {
    for (const [query, pointer] of [
      ["action=user.hacked", "/action"],
      ["action=nothing.*", "/action"],
      ["outcome=maybe", "/outcome"],
      ["actorId=not-a-uuid", "/actorId"],
      ["since=yesterday", "/since"],
      ["cursor=bm90IG91cnM", "/cursor"],
      [`cursor=${btoa("audit:99999999999999999")}`, "/cursor"],
    ] as const) {
      const problem = await expectProblem(await api(`/audit?${query}`, { headers: admin.auth }), 400);
      expect(problem.errors?.map((error) => error.pointer)).toContain(pointer);
    }
  });
});

describe("security events recorded with the change", () => {
  it("records a registration and a password login with the user as actor and target", async () => {
    const username = `audit-${crypto.randomUUID().slice(0, 12)}`;
    const ip = randomIp();
    const registered = await api(
      "/users",
      from(ip, {}, jsonInit("POST", {}, { email: `${username}@example.com`, username, password: PASSWORD })),
    );
    expect(registered.status).toBe(201);
    const user = (await registered.json()) as { id: string };
    expect(await eventOf(registered, "user.registered")).toMatchObject({
      outcome: "success",
      actorId: user.id,
      targetUserId: user.id,
      ip,
      userAgent: USER_AGENT,
      details: { method: "password" },
    });
    const signedInRes = await passwordGrant(username, PASSWORD, ip);
    expect(signedInRes.status).toBe(200);
    expect(await eventOf(signedInRes, "user.login_succeeded")).toMatchObject({
      actorId: user.id,
      targetUserId: user.id,
      ip,
      details: { method: "password" },
    });
  });

  it("records our request id, never the client's: a client's X-Request-ID is kept in details.clientRequestId", async () => {
    const { user } = await register();
    // A client claiming the request id of someone else's recorded request.
    const earlier = await passwordGrant(user.username, PASSWORD);
    const claimed = earlier.headers.get("x-request-id") ?? "";
    const res = await api("/auth/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "x-request-id": claimed },
      body: new URLSearchParams({ grant_type: "password", username: user.username, password: PASSWORD }).toString(),
    });
    expect(res.status).toBe(200);
    const ours = res.headers.get("x-request-id");
    expect(ours).toMatch(/^[0-9a-f-]{36}$/);
    expect(ours).not.toBe(claimed);
    expect(await eventOf(res, "user.login_succeeded")).toMatchObject({
      requestId: ours,
      details: { clientRequestId: claimed },
    });
    // The earlier request's id still names its own event only.
    const { data } = await auditPage({ requestId: claimed });
    expect(data.map((event) => event.action)).toEqual(["user.login_succeeded"]);
    expect(data[0]?.details).not.toHaveProperty("clientRequestId");
  });

  it("keeps the client's request id also for an event recorded inside its change's statement (a reset link)", async () => {
    const { user } = await register();
    const res = await api(
      "/auth/password-reset",
      from(randomIp(), { "x-request-id": "client-reset-1" }, jsonInit("POST", {}, { email: user.email })),
    );
    expect(res.status).toBe(202);
    expect(await eventOf(res, "user.password_reset_requested")).toMatchObject({
      targetUserId: user.id,
      details: { clientRequestId: "client-reset-1" },
    });
  });

  it("records a registration with a taken email as nothing", async () => {
    const { user } = await register();
    const again = await api(
      "/users",
      jsonInit(
        "POST",
        { "cf-connecting-ip": randomIp() },
        { email: user.email, username: `x-${user.username}`, password: PASSWORD },
      ),
    );
    expect(again.status).toBe(201);
    const { data } = await auditPage({ requestId: again.headers.get("x-request-id") ?? "" });
    expect(data).toEqual([]);
  });

  it("records refused logins: a wrong password, an unknown user (no target), a throttled attempt, a disabled account", async () => {
    const { user } = await signedIn();
    const wrong = await passwordGrant(user.username, "wrong");
    await expectOAuthError(wrong, 400, "invalid_grant");
    expect(await eventOf(wrong, "user.login_failed")).toMatchObject({
      outcome: "failure",
      actorId: null,
      targetUserId: user.id,
      userAgent: USER_AGENT,
      details: { method: "password", reason: "invalid_credentials" },
    });

    const unknown = await passwordGrant(`nobody-${crypto.randomUUID()}`, "whatever");
    await expectOAuthError(unknown, 400, "invalid_grant");
    const anonymous = await eventOf(unknown, "user.login_failed");
    expect(anonymous).toMatchObject({ targetUserId: null, details: { method: "password", reason: "unknown_user" } });
    // The identifier typed is not kept: it is often a password in the wrong field.
    expect(JSON.stringify(anonymous)).not.toContain("nobody-");

    // Four more wrong passwords use the account's free attempts; the next is throttled.
    for (let i = 0; i < 4; i++) await passwordGrant(user.username, "wrong");
    const throttled = await passwordGrant(user.username, PASSWORD);
    await expectOAuthError(throttled, 429, "slow_down");
    expect(await eventOf(throttled, "user.login_failed")).toMatchObject({
      targetUserId: user.id,
      details: { method: "password", reason: "throttled" },
    });

    const other = await signedIn();
    expect((await api(`/users/${other.user.id}/disable`, { method: "POST", headers: admin.auth })).status).toBe(200);
    const disabled = await passwordGrant(other.user.username, PASSWORD);
    await expectOAuthError(disabled, 400, "invalid_grant");
    expect(await eventOf(disabled, "user.login_failed")).toMatchObject({
      targetUserId: other.user.id,
      details: { method: "password", reason: "account_disabled" },
    });
  });

  it("records MFA turned on, an MFA login refused and completed, and MFA turned off", async () => {
    const { user, auth } = await signedIn();
    const ip = randomIp();
    const setup = (await (await api("/auth/mfa/setup", { method: "POST", headers: auth })).json()) as {
      secret: string;
    };
    const confirmStep = stepAt(Date.now());
    const confirmed = await api(
      "/auth/mfa/confirm",
      from(ip, auth, jsonInit("POST", {}, { code: await totpCode(setup.secret, confirmStep) })),
    );
    expect(confirmed.status).toBe(200);
    const { recoveryCodes } = (await confirmed.json()) as { recoveryCodes: string[] };
    expect(await eventOf(confirmed, "mfa.enabled")).toMatchObject({ actorId: user.id, targetUserId: user.id, ip });

    const challenge = await expectOAuthError(await passwordGrant(user.username, PASSWORD), 403, "mfa_required");
    const mfaToken = challenge.mfa_token ?? "";
    const grant = (otp: string) =>
      tokenRequest({ grant_type: "urn:techcorp:params:oauth:grant-type:mfa-otp", mfa_token: mfaToken, otp });
    const wrongCode = await grant("000000");
    await expectOAuthError(wrongCode, 400, "invalid_grant");
    expect(await eventOf(wrongCode, "user.login_failed")).toMatchObject({
      targetUserId: user.id,
      details: { method: "mfa", reason: "invalid_code" },
    });
    const completed = await grant(await totpCode(setup.secret, confirmStep + 1));
    expect(completed.status).toBe(200);
    const tokens = (await completed.json()) as Tokens;
    expect(await eventOf(completed, "user.login_succeeded")).toMatchObject({
      actorId: user.id,
      details: { method: "mfa" },
    });

    // A recovery code: the next TOTP step may not have begun yet.
    const off = await api(
      "/auth/mfa/disable",
      from(ip, bearer(tokens.access_token), jsonInit("POST", {}, { recoveryCode: recoveryCodes[0] })),
    );
    expect(off.status).toBe(204);
    const disabled = await eventOf(off, "mfa.disabled");
    expect(disabled).toMatchObject({ actorId: user.id, details: { factor: "recovery_code" } });
    expect(JSON.stringify(disabled)).not.toContain(recoveryCodes[0] ?? "?");
  });

  it("records third-party logins: an account created, an identity linked, a link refused", async () => {
    // The auth service as the OIDC callback calls it, once the provider's ID token is verified.
    const background: Promise<unknown>[] = [];
    const deps = (requestId: string): AuthDeps => ({
      config,
      db: handle.db,
      http: handle.http,
      sessions: testEnv.SESSIONS,
      throttle: testEnv.LOGIN_THROTTLE,
      client: { ip: "192.0.2.77", userAgent: USER_AGENT, requestId },
      background: (_name, task) => void background.push(task()),
    });
    const byRequest = async (requestId: string) =>
      (await auditPage({ requestId })).data.map(({ action, actorId, targetUserId, outcome, details }) => ({
        action,
        actorId,
        targetUserId,
        outcome,
        details,
      }));
    const identity = (email: string) => ({
      provider: "local",
      subject: crypto.randomUUID(),
      email,
      emailVerified: true,
      name: undefined,
    });
    const oidc = { method: "oidc", provider: "local" };

    const created = crypto.randomUUID();
    const email = `oidc-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const result = await externalLogin(deps(created), identity(email));
    if (result.kind !== "tokens") throw new Error("expected tokens");
    const newcomer = (await (await api("/users/me", { headers: bearer(result.tokens.access_token) })).json()) as {
      id: string;
    };
    expect(await byRequest(created)).toEqual(
      expect.arrayContaining([
        {
          action: "user.registered",
          actorId: newcomer.id,
          targetUserId: newcomer.id,
          outcome: "success",
          details: oidc,
        },
        {
          action: "user.login_succeeded",
          actorId: newcomer.id,
          targetUserId: newcomer.id,
          outcome: "success",
          details: oidc,
        },
      ]),
    );

    const verified = await verifiedUser();
    const linked = crypto.randomUUID();
    await externalLogin(deps(linked), identity(verified.email));
    expect((await byRequest(linked)).map((event) => event.action).sort()).toEqual([
      "user.identity_linked",
      "user.login_succeeded",
    ]);

    const { user: unverified } = await register();
    const refused = crypto.randomUUID();
    await expect(externalLogin(deps(refused), identity(unverified.email))).rejects.toMatchObject({ code: "conflict" });
    await Promise.all(background);
    expect(await byRequest(refused)).toEqual([
      {
        action: "user.login_failed",
        actorId: null,
        targetUserId: unverified.id,
        outcome: "failure",
        details: { ...oidc, reason: "email_not_verified" },
      },
    ]);
  });

  it("records a refresh token's reuse, which ends its session", async () => {
    const { user, tokens } = await signedIn();
    const first = (await (await refresh(tokens.refresh_token)).json()) as Tokens;
    await refresh(first.refresh_token);
    // The token before the one just replaced: outside its grace, a reuse.
    const reused = await refresh(tokens.refresh_token);
    const problem = (await expectProblem(reused, 400)) as OAuthErrorJson;
    expect(problem.error_description).toMatch(/already used/);
    const event = await eventOf(reused, "session.refresh_token_reused");
    expect(event).toMatchObject({ outcome: "failure", actorId: null, targetUserId: user.id });
    expect(typeof event.details.sessionId).toBe("string");
    expect(JSON.stringify(event.details)).not.toContain(tokens.refresh_token.split(".")[2] ?? "?");
  });

  it("records a session ended, a logout and all sessions ended", async () => {
    const { user, auth } = await signedIn();
    await login(user.username);
    const sessions = (await (await api("/auth/sessions", { headers: auth })).json()) as {
      data: { id: string; current: boolean }[];
    };
    const other = sessions.data.find((session) => !session.current);
    if (!other) throw new Error("no second session");
    const ip = randomIp();
    const revoked = await api(`/auth/sessions/${other.id}`, from(ip, auth, { method: "DELETE" }));
    expect(revoked.status).toBe(204);
    expect(await eventOf(revoked, "session.revoked")).toMatchObject({
      actorId: user.id,
      targetUserId: user.id,
      ip,
      details: { sessionId: other.id },
    });
    const loggedOut = await api("/auth/logout", from(ip, auth, { method: "POST" }));
    expect(loggedOut.status).toBe(204);
    expect(await eventOf(loggedOut, "user.logged_out")).toMatchObject({ actorId: user.id });

    const third = await login(user.username);
    await login(user.username);
    const all = await api("/auth/sessions", from(ip, bearer(third.access_token), { method: "DELETE" }));
    expect(all.status).toBe(204);
    expect(await eventOf(all, "user.sessions_revoked")).toMatchObject({ actorId: user.id, details: { count: 2 } });
  });

  it("records an administrator's changes of role, status, permissions, profile and email, and a deletion", async () => {
    const { user } = await signedIn();
    const ip = randomIp();
    const change = async (path: string, init: RequestInit, action: string) => {
      const res = await api(path, from(ip, admin.auth, init));
      expect(res.status).toBeLessThan(300);
      const event = await eventOf(res, action);
      expect(event).toMatchObject({ actorId: admin.user.id, targetUserId: user.id, ip, userAgent: USER_AGENT });
      return event;
    };
    const role = await change(`/users/${user.id}/role`, jsonInit("PUT", {}, { role: "admin" }), "user.role_changed");
    expect(role.details).toEqual({ from: "user", to: "admin" });
    await change(`/users/${user.id}/role`, jsonInit("PUT", {}, { role: "user" }), "user.role_changed");
    await change(`/users/${user.id}/disable`, { method: "POST" }, "user.disabled");
    await change(`/users/${user.id}/enable`, { method: "POST" }, "user.enabled");
    const granted = await change(
      `/users/${user.id}/permissions/users:read`,
      { method: "PUT" },
      "user.permission_granted",
    );
    expect(granted.details).toEqual({ permission: "users:read" });
    // Granting it again changes nothing, and records nothing.
    const again = await api(`/users/${user.id}/permissions/users:read`, { method: "PUT", headers: admin.auth });
    expect(again.status).toBeLessThan(300);
    expect((await auditPage({ requestId: again.headers.get("x-request-id") ?? "" })).data).toEqual([]);
    await change(`/users/${user.id}/permissions/users:read`, { method: "DELETE" }, "user.permission_revoked");
    const profile = await change(
      `/users/${user.id}`,
      jsonInit("PATCH", {}, { displayName: "Renamed", bio: "set by an admin" }),
      "user.profile_changed",
    );
    expect(profile.details.fields).toEqual(expect.arrayContaining(["displayName", "bio"]));
    expect(profile.details.fields).toHaveLength(2);
    const newEmail = `moved-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const email = await change(`/users/${user.id}`, jsonInit("PATCH", {}, { email: newEmail }), "user.email_changed");
    expect(email.details).toEqual({ from: user.email, to: newEmail });
    const deleted = await change(`/users/${user.id}`, { method: "DELETE" }, "user.deleted");
    expect(deleted.details).toEqual({ email: newEmail, username: user.username });
  });

  it("records nothing for a change that fails: the event rolls back with it", async () => {
    const { user } = await signedIn();
    const taken = (await register()).user;
    const res = await api(`/users/${user.id}`, jsonInit("PATCH", admin.auth, { email: taken.email, bio: "x" }));
    await expectProblem(res, 409);
    expect((await auditPage({ requestId: res.headers.get("x-request-id") ?? "" })).data).toEqual([]);
    expect(
      (await auditPage({ targetUserId: user.id, action: "user.email_changed,user.profile_changed" })).data,
    ).toEqual([]);
  });
});
