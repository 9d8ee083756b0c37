import { describe, expect, it } from "vitest";
import { enrolThroughApi, json, securityEventsAbout } from "../account-helpers.ts";
import { login, PASSWORD, promote, signedIn, signedInAdmin, tokenRequest } from "../auth-helpers.ts";
import { api, eventually, expectProblem } from "../helpers.ts";

interface LockoutJson {
  userId: string;
  bucket: string;
  locked: boolean;
  attempts: number;
  retryAfterSeconds: number;
}

const wrongLogins = async (username: string, count: number) => {
  for (let i = 0; i < count; i++) {
    expect((await tokenRequest({ grant_type: "password", username, password: `wrong ${i}` })).status).toBe(400);
  }
};

async function lockoutsOf(auth: Record<string, string>, userId: string): Promise<LockoutJson[]> {
  const res = await api("/users/locked?limit=100", { headers: auth });
  expect(res.status).toBe(200);
  const { data } = (await res.json()) as { data: LockoutJson[] };
  return data.filter((row) => row.userId === userId);
}

/** The user's lock-out records once `settled` accepts them: they are written after the answer. */
async function lockoutsOnceSettled(
  auth: Record<string, string>,
  userId: string,
  settled: (rows: LockoutJson[]) => boolean,
): Promise<LockoutJson[]> {
  return eventually(async () => {
    const rows = await lockoutsOf(auth, userId);
    return settled(rows) ? rows : undefined;
  });
}

describe("DELETE /users/{id}/mfa (reset a lost second factor)", () => {
  it("happy: the enrolment goes, the user's sessions end, their password alone signs in", async () => {
    const admin = await signedInAdmin();
    const target = await signedIn();
    await enrolThroughApi(target.auth);
    expect(
      (await tokenRequest({ grant_type: "password", username: target.user.username, password: PASSWORD })).status,
    ).toBe(403);

    const res = await api(`/users/${target.user.id}/mfa`, { method: "DELETE", headers: admin.auth });
    expect(res.status).toBe(204);
    await expectProblem(await api("/users/me", { headers: target.auth }), 401);
    expect((await login(target.user.username)).access_token).toBeTruthy();
    const events = await securityEventsAbout(target.user.id);
    expect(events.find((e) => e.action === "mfa.reset")).toMatchObject({ actorId: admin.user.id });
  });

  it("error: no enrolment is a 409, an unknown user a 404", async () => {
    const admin = await signedInAdmin();
    const target = await signedIn();
    await expectProblem(await api(`/users/${target.user.id}/mfa`, { method: "DELETE", headers: admin.auth }), 409);
    await expectProblem(await api(`/users/${crypto.randomUUID()}/mfa`, { method: "DELETE", headers: admin.auth }), 404);
    expect((await api("/users/me", { headers: target.auth })).status).toBe(200);
  });

  it("security: a non-staff caller cannot reset someone's MFA; a manager not an admin's nor their own", async () => {
    const target = await signedIn();
    await enrolThroughApi(target.auth);
    const plain = await signedIn();
    await expectProblem(await api(`/users/${target.user.id}/mfa`, { method: "DELETE", headers: plain.auth }), 403);
    const manager = await signedIn();
    await promote(manager.user.id, { permissions: ["users:manage"] });
    const self = await expectProblem(
      await api(`/users/${manager.user.id}/mfa`, { method: "DELETE", headers: manager.auth }),
      403,
    );
    expect((self as unknown as { grantRule: string }).grantRule).toBe("self");
    const anAdmin = await signedInAdmin();
    await expectProblem(await api(`/users/${anAdmin.user.id}/mfa`, { method: "DELETE", headers: manager.auth }), 403);
    // Still enrolled: the password alone is not enough.
    expect(
      (await tokenRequest({ grant_type: "password", username: target.user.username, password: PASSWORD })).status,
    ).toBe(403);
    expect((await api(`/users/${target.user.id}/mfa`, { method: "DELETE", headers: manager.auth })).status).toBe(204);
  });
});

describe("locked accounts: GET /users/locked, POST /users/{id}/unlock", () => {
  it("happy: a throttled account is listed, an admin unlocks it, it signs in at once", async () => {
    const admin = await signedInAdmin();
    const target = await signedIn();
    await wrongLogins(target.user.username, 5);
    const [listed] = await lockoutsOnceSettled(admin.auth, target.user.id, (rows) => rows.length > 0);
    expect(listed).toMatchObject({ bucket: "password", locked: true, attempts: 5 });
    expect(
      (await tokenRequest({ grant_type: "password", username: target.user.username, password: PASSWORD })).status,
    ).toBe(429);

    const res = await api(`/users/${target.user.id}/unlock`, { method: "POST", headers: admin.auth });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ cleared: ["password"] });
    expect((await login(target.user.username)).access_token).toBeTruthy();
    expect(await lockoutsOf(admin.auth, target.user.id)).toEqual([]);
    const events = await securityEventsAbout(target.user.id);
    expect(events.find((e) => e.action === "user.unlocked")).toMatchObject({
      actorId: admin.user.id,
      details: { buckets: ["password"] },
    });
  });

  it("happy: failed logins that do not lock record nothing; a success after the wait clears the record", async () => {
    const admin = await signedInAdmin();
    const target = await signedIn();
    await wrongLogins(target.user.username, 4);
    expect(await lockoutsOf(admin.auth, target.user.id)).toEqual([]);
    await wrongLogins(target.user.username, 1);
    expect(await lockoutsOnceSettled(admin.auth, target.user.id, (rows) => rows.length > 0)).toHaveLength(1);
    // The first wait is one second: the owner's right password after it clears the lock-out.
    const signIn = () => tokenRequest({ grant_type: "password", username: target.user.username, password: PASSWORD });
    await eventually(async () => ((await signIn()).status === 200 ? true : undefined));
    expect(await lockoutsOnceSettled(admin.auth, target.user.id, (rows) => rows.length === 0)).toEqual([]);
  });

  it("error: unlocking an account that is not locked clears nothing; an unknown user is a 404", async () => {
    const admin = await signedInAdmin();
    const target = await signedIn();
    const res = await api(`/users/${target.user.id}/unlock`, { method: "POST", headers: admin.auth });
    expect(await res.json()).toEqual({ cleared: [] });
    await expectProblem(
      await api(`/users/${crypto.randomUUID()}/unlock`, { method: "POST", headers: admin.auth }),
      404,
    );
  });

  it("security: only users:manage lists and unlocks, never their own account", async () => {
    const target = await signedIn();
    await wrongLogins(target.user.username, 5);
    const reader = await signedIn();
    await promote(reader.user.id, { permissions: ["users:read"] });
    await expectProblem(await api("/users/locked", { headers: reader.auth }), 403);
    await expectProblem(await api(`/users/${target.user.id}/unlock`, { method: "POST", headers: reader.auth }), 403);
    const manager = await signedIn();
    await promote(manager.user.id, { permissions: ["users:manage"] });
    await expectProblem(await api(`/users/${manager.user.id}/unlock`, { method: "POST", headers: manager.auth }), 403);
    // Still locked: the record stays and the account's bucket still holds the five failures (a login
    // attempt would depend on the clock: the first delay after them is only 1 s).
    expect((await lockoutsOnceSettled(manager.auth, target.user.id, (rows) => rows.length > 0))[0]).toMatchObject({
      locked: true,
      attempts: 5,
    });
  });

  it("security: wrong current passwords of a change of email lock the account as a login's do, and it is listed", async () => {
    const admin = await signedInAdmin();
    const target = await signedIn();
    for (let i = 0; i < 5; i++) {
      const res = await api(
        "/users/me/email",
        json("POST", target.auth, { email: `moved-${crypto.randomUUID()}@example.com`, currentPassword: `wrong ${i}` }),
      );
      await expectProblem(res, 403);
    }
    const [listed] = await lockoutsOnceSettled(admin.auth, target.user.id, (rows) => rows.length > 0);
    expect(listed).toMatchObject({ bucket: "password", locked: true, attempts: 5 });
  });

  it("error: a wrong cursor is a 400", async () => {
    const admin = await signedInAdmin();
    await expectProblem(await api("/users/locked?cursor=nonsense", { headers: admin.auth }), 400);
    await expectProblem(await api("/users/locked?limit=0", json("GET", admin.auth)), 400);
  });
});
