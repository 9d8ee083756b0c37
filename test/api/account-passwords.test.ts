import { describe, expect, it } from "vitest";
import { json, securityEventsAbout } from "../account-helpers.ts";
import {
  bearer,
  login,
  me,
  PASSWORD,
  promote,
  randomIp,
  refresh,
  signedIn,
  signedInAdmin,
  tokenRequest,
} from "../auth-helpers.ts";
import { api, expectProblem } from "../helpers.ts";

const NEW_PASSWORD = "a much longer passphrase 2026";

const changePassword = (auth: Record<string, string>, body: unknown, ip = randomIp()) =>
  api("/users/me/password", json("POST", { ...auth, "cf-connecting-ip": ip }, body));

type Restricted = { requiredActions: string[]; type: string };

describe("POST /users/me/password", () => {
  it("happy: changes the password, ends my other sessions, keeps this one and other users'", async () => {
    const mine = await signedIn();
    const otherDevice = await login(mine.user.username);
    const someoneElse = await signedIn();
    const res = await changePassword(mine.auth, { currentPassword: PASSWORD, newPassword: NEW_PASSWORD });
    expect(res.status).toBe(204);

    expect((await api("/users/me", { headers: mine.auth })).status).toBe(200);
    await expectProblem(await me(otherDevice.access_token), 401);
    expect((await refresh(otherDevice.refresh_token)).status).toBe(400);
    expect((await api("/users/me", { headers: someoneElse.auth })).status).toBe(200);

    expect(
      (await tokenRequest({ grant_type: "password", username: mine.user.username, password: PASSWORD })).status,
    ).toBe(400);
    expect((await login(mine.user.username, NEW_PASSWORD)).access_token).toBeTruthy();
    const events = await securityEventsAbout(mine.user.id);
    expect(events.find((e) => e.action === "user.password_changed")).toMatchObject({
      actorId: mine.user.id,
      outcome: "success",
    });
  });

  it("error: a wrong current password, a weak or unchanged new one change nothing", async () => {
    const { auth, user } = await signedIn();
    const wrong = await expectProblem(
      await changePassword(auth, { currentPassword: "not my password at all", newPassword: NEW_PASSWORD }),
      403,
    );
    expect(wrong.detail).toBe("The current password is wrong.");
    const short = await expectProblem(
      await changePassword(auth, { currentPassword: PASSWORD, newPassword: "short" }),
      400,
    );
    expect(short.errors?.[0]?.pointer).toBe("/newPassword");
    const withName = await expectProblem(
      await changePassword(auth, { currentPassword: PASSWORD, newPassword: `my name is ${user.username}!` }),
      400,
    );
    expect(withName.errors?.[0]).toMatchObject({ pointer: "/newPassword", message: "must not contain the username" });
    const same = await expectProblem(
      await changePassword(auth, { currentPassword: PASSWORD, newPassword: PASSWORD }),
      400,
    );
    expect(same.errors?.[0]?.pointer).toBe("/newPassword");
    await expectProblem(await changePassword(auth, { newPassword: NEW_PASSWORD }), 400);
    expect((await login(user.username, PASSWORD)).access_token).toBeTruthy();
  });

  it("security: wrong current passwords are throttled with the account's logins", async () => {
    const { auth, user } = await signedIn();
    for (let i = 0; i < 5; i++) {
      await expectProblem(
        await changePassword(auth, { currentPassword: `wrong guess ${i}`, newPassword: NEW_PASSWORD }),
        403,
      );
    }
    const refused = await expectProblem(
      await changePassword(auth, { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }),
      429,
    );
    expect(refused.type).toBe("/problems/rate_limited");
    // The login shares the account's bucket: the guesses made here count there.
    const loginRefused = await tokenRequest({ grant_type: "password", username: user.username, password: PASSWORD });
    expect(loginRefused.status).toBe(429);
    expect(Number(loginRefused.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("security: needs a token", async () => {
    await expectProblem(await changePassword({}, { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }), 401);
  });
});

describe("PUT /users/{id}/password (temporary password)", () => {
  const TEMPORARY = "temporary passphrase 1234";

  it("happy: the user's sessions end; their next login can only change the password", async () => {
    const admin = await signedInAdmin();
    const target = await signedIn();
    const res = await api(`/users/${target.user.id}/password`, json("PUT", admin.auth, { password: TEMPORARY }));
    expect(res.status).toBe(204);
    await expectProblem(await api("/users/me", { headers: target.auth }), 401);

    const restricted = bearer((await login(target.user.username, TEMPORARY)).access_token);
    const problem = (await expectProblem(
      await api("/documents", { headers: restricted }),
      403,
    )) as unknown as Restricted;
    expect(problem.type).toBe("/problems/required_action");
    expect(problem.requiredActions).toEqual(["UPDATE_PASSWORD"]);
    await expectProblem(await api("/auth/mfa/setup", { method: "POST", headers: restricted }), 403);
    expect((await api("/users/me", { headers: restricted })).status).toBe(200);

    const changed = await changePassword(restricted, { currentPassword: TEMPORARY, newPassword: NEW_PASSWORD });
    expect(changed.status).toBe(204);
    expect((await api("/documents", { headers: restricted })).status).toBe(200);
    expect((await login(target.user.username, NEW_PASSWORD)).access_token).toBeTruthy();

    const actions = (await securityEventsAbout(target.user.id)).map((e) => [e.action, e.actorId]);
    expect(actions).toContainEqual(["user.temporary_password_set", admin.user.id]);
    expect(actions).toContainEqual(["user.password_changed", target.user.id]);
  });

  it("error: a password containing the username, an unknown user", async () => {
    const admin = await signedInAdmin();
    const target = await signedIn();
    const problem = await expectProblem(
      await api(
        `/users/${target.user.id}/password`,
        json("PUT", admin.auth, { password: `x${target.user.username}x` }),
      ),
      400,
    );
    expect(problem.errors?.[0]?.pointer).toBe("/password");
    expect((await api("/users/me", { headers: target.auth })).status).toBe(200);
    await expectProblem(
      await api(`/users/${crypto.randomUUID()}/password`, json("PUT", admin.auth, { password: TEMPORARY })),
      404,
    );
  });

  it("security: only users:manage, never on oneself, never on an admin unless an admin", async () => {
    const target = await signedIn();
    const plain = await signedIn();
    await expectProblem(
      await api(`/users/${target.user.id}/password`, json("PUT", plain.auth, { password: TEMPORARY })),
      403,
    );
    const writer = await signedIn();
    await promote(writer.user.id, { permissions: ["users:write"] });
    await expectProblem(
      await api(`/users/${target.user.id}/password`, json("PUT", writer.auth, { password: TEMPORARY })),
      403,
    );

    const manager = await signedIn();
    await promote(manager.user.id, { permissions: ["users:manage"] });
    const self = await expectProblem(
      await api(`/users/${manager.user.id}/password`, json("PUT", manager.auth, { password: TEMPORARY })),
      403,
    );
    expect((self as unknown as { grantRule: string }).grantRule).toBe("self");
    const anAdmin = await signedInAdmin();
    const admins = await expectProblem(
      await api(`/users/${anAdmin.user.id}/password`, json("PUT", manager.auth, { password: TEMPORARY })),
      403,
    );
    expect((admins as unknown as { grantRule: string }).grantRule).toBe("admins");
    // Nothing changed: both still sign in with their password, and their sessions live.
    expect((await api("/users/me", { headers: anAdmin.auth })).status).toBe(200);
    expect((await login(target.user.username)).access_token).toBeTruthy();

    const allowed = await api(`/users/${target.user.id}/password`, json("PUT", manager.auth, { password: TEMPORARY }));
    expect(allowed.status).toBe(204);
  });
});
