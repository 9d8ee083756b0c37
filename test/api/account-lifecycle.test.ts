import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/pkg/crypto/digest.ts";
import {
  bearer,
  login,
  PASSWORD,
  promote,
  randomIp,
  register,
  signedIn,
  tokenRequest,
  type UserJson,
  uniqueName,
} from "../auth-helpers.ts";
import { created, formUpload } from "../document-helpers.ts";
import { api, apiWith, asSystem, captureLines, expectProblem } from "../helpers.ts";
import { mailsTo, waitForMail } from "../mail-helpers.ts";
import { createProject, send } from "../project-helpers.ts";

const VERIFY = "Confirm your email address";
const RESET = "Reset your password";
const CHANGE_LINK = "Confirm your new email address";
const CHANGE_NOTICE = "A change of your email address was requested";
const NEW_PASSWORD = "a brand new horse battery staple";

/** The token of a mailed link (`…#token=<token>`). */
function tokenOf(mail: { links: string[] }): string {
  const link = mail.links.find((url) => url.includes("#token="));
  if (!link) throw new Error(`no token link in ${JSON.stringify(mail.links)}`);
  return decodeURIComponent(link.slice(link.indexOf("#token=") + "#token=".length));
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  api(path, {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": randomIp(), ...headers },
    body: JSON.stringify(body),
  });

const confirmEmail = (token: string) => post("/auth/email-verification", { token });
const confirmReset = (token: string, password = NEW_PASSWORD) =>
  post("/auth/password-reset/confirm", { token, password });
const requestReset = (email: string) => post("/auth/password-reset", { email });
/** A reset request whose background work (lookup, token, mail) has finished when it resolves. */
const requestResetWhole = (email: string, bindings: object = {}) =>
  apiWith(bindings, "/auth/password-reset", {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": randomIp() },
    body: JSON.stringify({ email }),
  });

const me = async (auth: Record<string, string>) =>
  (await (await api("/users/me", { headers: auth })).json()) as UserJson & { emailVerified: boolean };

/** The security events about `userId`, oldest first (action only). */
const eventsOf = (userId: string) =>
  asSystem(async (tx) => {
    const rows = await tx.execute<{ action: string; actor_id: string | null }>(
      sql`select action, actor_id from audit_events where target_user_id = ${userId} order by id`,
    );
    return rows.rows;
  });

const expire = (token: string) =>
  asSystem(async (tx) =>
    tx.execute(
      sql`update account_tokens set expires_at = now() - interval '1 second' where token_hash = ${await sha256Hex(token)}`,
    ),
  );

/** A registered, signed-in user whose address is not verified. */
async function unverified() {
  const { user } = await register();
  const tokens = await login(user.username);
  return { user, auth: bearer(tokens.access_token) };
}

describe("email verification: happy paths", () => {
  it("mails a link on registration; the link verifies the address once, and is recorded", async () => {
    const { user, auth } = await unverified();
    expect((await me(auth)).emailVerified).toBe(false);
    const mail = await waitForMail(user.email, VERIFY);
    expect(mail.text).toContain("The link works once, for 24 hours.");
    const res = await confirmEmail(tokenOf(mail));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ email: user.email, changed: false });
    expect((await me(auth)).emailVerified).toBe(true);
    expect((await eventsOf(user.id)).map((e) => e.action)).toContain("user.email_verified");
  });

  it("sends a new link on request, which works too", async () => {
    const { user, auth } = await unverified();
    await waitForMail(user.email, VERIFY);
    expect((await api("/users/me/email-verification", { method: "POST", headers: auth })).status).toBe(202);
    const mails = await (async () => {
      for (;;) {
        const all = (await mailsTo(user.email)).filter((m) => m.subject === VERIFY);
        if (all.length === 2) return all;
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const [newest] = mails;
    if (!newest) throw new Error("no mail");
    expect((await confirmEmail(tokenOf(newest))).status).toBe(200);
  });
});

describe("email verification: errors", () => {
  it("refuses a used link (replay), an expired one, and one that is no token", async () => {
    const { user } = await register();
    const token = tokenOf(await waitForMail(user.email, VERIFY));
    expect((await confirmEmail(token)).status).toBe(200);
    const replay = await expectProblem(await confirmEmail(token), 400);
    expect(replay.type).toBe("/problems/invalid_grant");

    const { user: late } = await register();
    const lateToken = tokenOf(await waitForMail(late.email, VERIFY));
    await expire(lateToken);
    await expectProblem(await confirmEmail(lateToken), 400);
    await expectProblem(await confirmEmail("not-a-token"), 400);
  });

  it("answers 409 to a resend for a verified address, and 429 to a second resend within a minute", async () => {
    const verified = await signedIn();
    await expectProblem(await api("/users/me/email-verification", { method: "POST", headers: verified.auth }), 409);
    const { auth } = await unverified();
    expect((await api("/users/me/email-verification", { method: "POST", headers: auth })).status).toBe(202);
    const second = await api("/users/me/email-verification", { method: "POST", headers: auth });
    await expectProblem(second, 429);
    expect(second.headers.get("retry-after")).not.toBeNull();
  });
});

describe("email verification: security", () => {
  it("a link verifies the account it was sent for, whoever posts it", async () => {
    const { user: owner, auth: ownerAuth } = await unverified();
    const other = await unverified();
    const token = tokenOf(await waitForMail(owner.email, VERIFY));
    const res = await post("/auth/email-verification", { token }, other.auth);
    expect(res.status).toBe(200);
    expect((await me(ownerAuth)).emailVerified).toBe(true);
    expect((await me(other.auth)).emailVerified).toBe(false);
  });

  it("refuses a token of another purpose at each endpoint", async () => {
    const { user } = await register();
    const verifyToken = tokenOf(await waitForMail(user.email, VERIFY));
    expect((await requestReset(user.email)).status).toBe(202);
    const resetToken = tokenOf(await waitForMail(user.email, RESET));
    await expectProblem(await confirmEmail(resetToken), 400);
    await expectProblem(await confirmReset(verifyToken), 400);
    // Neither was spent by the refusal.
    expect((await confirmEmail(verifyToken)).status).toBe(200);
    expect((await confirmReset(resetToken)).status).toBe(204);
  });

  it("an unverified account cannot share a document or invite to a project; a verified one can", async () => {
    const { auth } = await unverified();
    const friend = await signedIn();
    const doc = await created(formUpload(auth, { bytes: "hello", type: "text/plain", name: "a.txt" }));
    const share = await api(`/documents/${doc.id}/shares`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ user: friend.user.username, access: "read" }),
    });
    const refused = (await expectProblem(share, 403)) as { emailVerification?: string };
    expect(refused.emailVerification).toBe("required");
    const project = await createProject(auth);
    const invitation = await send(auth, "POST", `/projects/${project.id}/invitations`, {
      login: friend.user.username,
      role: "viewer",
    });
    await expectProblem(invitation, 403);

    const verified = await signedIn();
    const project2 = await createProject(verified.auth);
    const allowed = await send(verified.auth, "POST", `/projects/${project2.id}/invitations`, {
      login: friend.user.username,
      role: "viewer",
    });
    expect(allowed.status).toBe(201);
  });
});

describe("password reset: happy paths", () => {
  it("mails a 30-minute link; the new password works, every session ends, the throttle is cleared", async () => {
    const { user, tokens, auth } = await signedIn();
    // Enough wrong guesses that the right password is refused for a while.
    for (let i = 0; i < 6; i++)
      await tokenRequest({ grant_type: "password", username: user.username, password: "wrong" });
    const throttled = await tokenRequest({ grant_type: "password", username: user.username, password: PASSWORD });
    expect(throttled.status).toBe(429);

    expect((await requestReset(user.email.toUpperCase())).status).toBe(202);
    const mail = await waitForMail(user.email, RESET);
    expect(mail.text).toContain("for 30 minutes");
    expect((await confirmReset(tokenOf(mail))).status).toBe(204);

    expect((await api("/users/me", { headers: auth })).status).toBe(401);
    const refreshed = await api("/auth/refresh", {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": randomIp() },
      body: JSON.stringify({ refresh_token: tokens.refresh_token }),
    });
    expect(refreshed.status).toBe(400);
    const old = await tokenRequest({ grant_type: "password", username: user.username, password: PASSWORD });
    expect(old.status).toBe(400);
    const fresh = await login(user.username, NEW_PASSWORD);
    expect(fresh.access_token).toBeTruthy();
    const actions = (await eventsOf(user.id)).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(["user.password_reset_requested", "user.password_reset"]));
  });

  it("an admin sends a user a reset link; users:manage is needed and never on oneself", async () => {
    const admin = await signedIn();
    await promote(admin.user.id, { role: "admin" });
    // The live session learns the role at once (a new login would ask for the second factor staff must have).
    const adminAuth = admin.auth;
    const { user } = await register();
    const res = await api(`/users/${user.id}/password-reset`, { method: "POST", headers: adminAuth });
    expect(res.status).toBe(202);
    expect(Date.parse(((await res.json()) as { expiresAt: string }).expiresAt)).toBeGreaterThan(Date.now());
    const mail = await waitForMail(user.email, RESET);
    expect((await confirmReset(tokenOf(mail))).status).toBe(204);
    expect((await eventsOf(user.id)).find((e) => e.action === "user.password_reset_requested")?.actor_id).toBe(
      admin.user.id,
    );

    const plain = await signedIn();
    await expectProblem(await api(`/users/${user.id}/password-reset`, { method: "POST", headers: plain.auth }), 403);
    await expectProblem(
      await api(`/users/${admin.user.id}/password-reset`, { method: "POST", headers: adminAuth }),
      403,
    );
  });
});

describe("password reset sent by an admin: the queue refuses the mail", () => {
  it("answers 503 and stores no link and no event claiming one was sent", async () => {
    const admin = await signedIn();
    await promote(admin.user.id, { role: "admin" });
    const { user } = await register();
    const broken = {
      send: () => Promise.reject(new Error("queue unavailable")),
      sendBatch: () => Promise.reject(new Error("queue unavailable")),
    } as unknown as Queue;
    let res: Response | undefined;
    await captureLines(async () => {
      res = await apiWith({ NOTIFICATIONS: broken }, `/users/${user.id}/password-reset`, {
        method: "POST",
        headers: admin.auth,
      });
    });
    if (!res) throw new Error("no response");
    await expectProblem(res, 503);
    expect((await eventsOf(user.id)).map((e) => e.action)).not.toContain("user.password_reset_requested");
    const tokens = await asSystem((tx) =>
      tx.execute(sql`select 1 from account_tokens where user_id = ${user.id} and purpose = 'reset_password'`),
    );
    expect(tokens.rows).toEqual([]);
  });
});

describe("password reset: errors and security", () => {
  it("answers an unknown address exactly as a known one, and both take the same path", async () => {
    const { user } = await register();
    const unknown = `${uniqueName("nobody")}@example.com`;
    let known = new Response();
    let missing = new Response();
    const knownLines = await captureLines(async () => {
      known = await requestResetWhole(user.email, { LOG_LEVEL: "info" });
    });
    const missingLines = await captureLines(async () => {
      missing = await requestResetWhole(unknown, { LOG_LEVEL: "info" });
    });
    // Both ran the same background task after the answer: it found an account for one only.
    const notSent = (lines: Record<string, unknown>[]) =>
      lines.some((line) => String(line.message).startsWith("password reset not sent"));
    expect([notSent(knownLines), notSent(missingLines)]).toEqual([false, true]);
    const shape = async (res: Response) => ({
      status: res.status,
      body: await res.json(),
      headers: [...res.headers.keys()]
        .filter((k) => !["x-request-id", "ratelimit", "x-ratelimit-remaining"].includes(k))
        .sort(),
      durableObjects: res.headers.get("server-timing")?.match(/durable-objects;desc="(\d+)"/)?.[1],
    });
    expect(await shape(missing)).toEqual(await shape(known));
    await waitForMail(user.email, RESET);
    expect(await mailsTo(unknown)).toEqual([]);
  });

  it("refuses a used link, an expired link, a weak password and one containing the username", async () => {
    const { user } = await register();
    await requestReset(user.email);
    const token = tokenOf(await waitForMail(user.email, RESET));
    await expectProblem(await confirmReset(token, "short"), 400);
    // Registration's rule, as a change and a temporary password apply it; the link stays usable.
    const named = await expectProblem(await confirmReset(token, `my name is ${user.username.toUpperCase()}`), 400);
    expect(named.errors).toEqual([{ in: "body", pointer: "/password", message: "must not contain the username" }]);
    expect((await confirmReset(token)).status).toBe(204);
    const replay = await expectProblem(await confirmReset(token, "yet another horse battery"), 400);
    expect(replay.type).toBe("/problems/invalid_grant");
    await login(user.username, NEW_PASSWORD);

    const { user: late } = await register();
    await requestReset(late.email);
    const lateToken = tokenOf(await waitForMail(late.email, RESET));
    await expire(lateToken);
    await expectProblem(await confirmReset(lateToken), 400);
    await login(late.username, PASSWORD);
  });

  it("issues at most three reset links an hour per account, whichever addresses ask", async () => {
    const { user } = await register();
    for (let i = 0; i < 4; i++) expect((await requestResetWhole(user.email)).status).toBe(202);
    const count = async () =>
      asSystem(async (tx) => {
        const rows = await tx.execute<{ n: number }>(
          sql`select count(*)::int as n from account_tokens where user_id = ${user.id} and purpose = 'reset_password'`,
        );
        return rows.rows[0]?.n;
      });
    expect(await count()).toBe(3);
  });
});

describe("change of email", () => {
  it("needs the current password; links the new address, tells the old one, moves only when followed", async () => {
    const { user, auth } = await signedIn();
    const newEmail = `${uniqueName("moved")}@example.com`;
    const wrong = await api("/users/me/email", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ email: newEmail, currentPassword: "not my password" }),
    });
    await expectProblem(wrong, 403);
    const res = await api("/users/me/email", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ email: newEmail, currentPassword: PASSWORD }),
    });
    expect(res.status).toBe(202);
    const notice = await waitForMail(user.email, CHANGE_NOTICE);
    expect(notice.text).toContain(newEmail);
    expect(notice.text).toMatch(/On \d{4}-\d\d-\d\d at \d\d:\d\d UTC/);
    expect(notice.links.some((l) => l.endsWith("/reset-password"))).toBe(true);
    const link = await waitForMail(newEmail, CHANGE_LINK);
    expect((await me(auth)).email).toBe(user.email);
    const confirmed = await confirmEmail(tokenOf(link));
    expect(await confirmed.json()).toEqual({ email: newEmail, changed: true });
    expect(await me(auth)).toMatchObject({ email: newEmail, emailVerified: true });
    const actions = (await eventsOf(user.id)).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(["user.email_change_requested", "user.email_changed"]));
  });

  it("refuses the change at confirmation when another account took the address meanwhile", async () => {
    const { user, auth } = await signedIn();
    const contested = `${uniqueName("contested")}@example.com`;
    await api("/users/me/email", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ email: contested, currentPassword: PASSWORD }),
    });
    const token = tokenOf(await waitForMail(contested, CHANGE_LINK));
    await register({ email: contested });
    await expectProblem(await confirmEmail(token), 409);
    expect((await me(auth)).email).toBe(user.email);
  });

  it("a password reset cancels a pending change", async () => {
    const { user, auth } = await signedIn();
    const newEmail = `${uniqueName("moved")}@example.com`;
    await api("/users/me/email", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ email: newEmail, currentPassword: PASSWORD }),
    });
    const changeToken = tokenOf(await waitForMail(newEmail, CHANGE_LINK));
    await requestReset(user.email);
    expect((await confirmReset(tokenOf(await waitForMail(user.email, RESET)))).status).toBe(204);
    await expectProblem(await confirmEmail(changeToken), 400);
  });
});
