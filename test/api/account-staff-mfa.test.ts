import { describe, expect, it } from "vitest";
import { asActor, SYSTEM } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import { updateMfa } from "../../src/db/queries/users.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { sha256Hex } from "../../src/pkg/crypto/digest.ts";
import { enrolThroughApi, json, loginWithRecoveryCode, securityEventsAbout, tokensOf } from "../account-helpers.ts";
import { bearer, login, promote, signedIn, signedInAdmin } from "../auth-helpers.ts";
import { api, expectProblem, testEnv } from "../helpers.ts";

type Restricted = { requiredActions: string[]; type: string };

interface SessionJson {
  createdAt: string;
  expiresAt: string;
  lastUsedAt: string;
  idleExpiresAt: string;
  current: boolean;
}

async function currentSession(auth: Record<string, string>): Promise<SessionJson> {
  const res = await api("/auth/sessions", { headers: auth });
  expect(res.status).toBe(200);
  const { data } = (await res.json()) as { data: SessionJson[] };
  const session = data.find((s) => s.current);
  if (!session) throw new Error("no current session");
  return session;
}

const HOUR_MS = 3_600_000;

describe("staff accounts must use a second factor (required action CONFIGURE_TOTP)", () => {
  it("happy: a staff member without MFA enrols it and is let through at once, with the same token", async () => {
    const staff = await signedIn();
    await promote(staff.user.id, { permissions: ["users:read"] }, { mfa: false });
    await expectProblem(await api("/users", { headers: staff.auth }), 403);
    await enrolThroughApi(staff.auth);
    expect((await api("/users", { headers: staff.auth })).status).toBe(200);
  });

  it("security: a staff member without MFA is refused everywhere but enrolment, /users/me and logout", async () => {
    const staff = await signedIn();
    await promote(staff.user.id, { role: "admin" }, { mfa: false });
    for (const [path, init] of [
      ["/users", {}],
      ["/documents", {}],
      ["/auth/sessions", {}],
      ["/notifications", {}],
      [`/users/${staff.user.id}`, {}],
      ["/users/me", { method: "PATCH", ...json("PATCH", {}, { displayName: "x" }) }],
    ] as const) {
      const problem = (await expectProblem(
        await api(path, { ...init, headers: { ...staff.auth, "content-type": "application/json" } }),
        403,
      )) as unknown as Restricted;
      expect(problem.type).toBe("/problems/required_action");
      expect(problem.requiredActions).toEqual(["CONFIGURE_TOTP"]);
    }
    expect((await api("/users/me", { headers: staff.auth })).status).toBe(200);
    expect((await api("/auth/mfa/setup", { method: "POST", headers: staff.auth })).status).toBe(200);
    expect((await api("/auth/logout", { method: "POST", headers: staff.auth })).status).toBe(204);
  });

  it("security: granting a permission through the API restricts the grantee's live sessions at once", async () => {
    const admin = await signedInAdmin();
    const target = await signedIn();
    expect((await api("/documents", { headers: target.auth })).status).toBe(200);
    const granted = await api(`/users/${target.user.id}/permissions/documents:read`, {
      method: "PUT",
      headers: admin.auth,
    });
    expect(granted.status).toBe(200);
    const problem = (await expectProblem(
      await api("/documents", { headers: target.auth }),
      403,
    )) as unknown as Restricted;
    expect(problem.requiredActions).toEqual(["CONFIGURE_TOTP"]);
    // Revoked again: no longer staff, no longer restricted.
    await api(`/users/${target.user.id}/permissions/documents:read`, { method: "DELETE", headers: admin.auth });
    expect((await api("/documents", { headers: target.auth })).status).toBe(200);
  });

  it("error: a new login of a staff account without MFA gets a restricted session", async () => {
    const { user, password } = await signedIn();
    await promote(user.id, { permissions: ["analytics:read"] }, { mfa: false });
    const tokens = await login(user.username, password);
    const problem = (await expectProblem(
      await api("/users", { headers: bearer(tokens.access_token) }),
      403,
    )) as unknown as Restricted;
    expect(problem.requiredActions).toEqual(["CONFIGURE_TOTP"]);
    expect((await api("/users/me", { headers: bearer(tokens.access_token) })).status).toBe(200);
  });

  it("happy: an account that is not staff needs no second factor", async () => {
    const { auth } = await signedIn();
    expect((await api("/documents", { headers: auth })).status).toBe(200);
    expect((await api("/auth/sessions", { headers: auth })).status).toBe(200);
  });

  it("happy: staff sessions are 12 h absolute and 30 min idle; a promotion shortens live sessions", async () => {
    const member = await signedIn();
    const before = await currentSession(member.auth);
    expect(Date.parse(before.expiresAt) - Date.parse(before.createdAt)).toBe(60 * 24 * HOUR_MS);

    const admin = await signedInAdmin();
    const { recoveryCodes } = await enrolThroughApi(member.auth);
    const granted = await api(`/users/${member.user.id}/permissions/users:read`, {
      method: "PUT",
      headers: admin.auth,
    });
    expect(granted.status).toBe(200);
    const after = await currentSession(member.auth);
    expect(Date.parse(after.expiresAt) - Date.parse(after.createdAt)).toBe(12 * HOUR_MS);
    expect(Date.parse(after.idleExpiresAt) - Date.parse(after.lastUsedAt)).toBe(30 * 60_000);

    const fresh = await tokensOf(await loginWithRecoveryCode(member.user.username, recoveryCodes[0] ?? ""));
    const session = await currentSession(bearer(fresh.access_token));
    expect(Date.parse(session.expiresAt) - Date.parse(session.createdAt)).toBe(12 * HOUR_MS);
    expect(Date.parse(session.idleExpiresAt) - Date.parse(session.lastUsedAt)).toBe(30 * 60_000);
  });

  it("security: turning MFA off restricts a staff member again", async () => {
    const staff = await signedIn();
    const { recoveryCodes } = await enrolThroughApi(staff.auth);
    await promote(staff.user.id, { permissions: ["users:read"] }, { mfa: false });
    expect((await api("/users", { headers: staff.auth })).status).toBe(200);
    const off = await api("/auth/mfa/disable", json("POST", staff.auth, { recoveryCode: recoveryCodes[0] }));
    expect(off.status).toBe(204);
    await expectProblem(await api("/users", { headers: staff.auth }), 403);
  });
});

describe("recovery codes (ASVS 4.0.3 V2.6.2)", () => {
  const CODE = /^[A-Z2-7]{6}-[A-Z2-7]{6}-[A-Z2-7]{6}-[A-Z2-7]{6}$/;

  it("happy: ten codes of 120 bits, replaced with a current recovery code", async () => {
    const { auth, user } = await signedIn();
    const { recoveryCodes } = await enrolThroughApi(auth);
    expect(recoveryCodes).toHaveLength(10);
    for (const code of recoveryCodes) expect(code).toMatch(CODE);
    expect(new Set(recoveryCodes).size).toBe(10);

    const res = await api("/auth/mfa/recovery-codes", json("POST", auth, { recoveryCode: recoveryCodes[0] }));
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const fresh = ((await res.json()) as { recoveryCodes: string[] }).recoveryCodes;
    expect(fresh).toHaveLength(10);
    for (const code of fresh) expect(code).toMatch(CODE);

    // The old codes are gone (the one used and the nine others); a new one works.
    expect((await loginWithRecoveryCode(user.username, recoveryCodes[1] ?? "")).status).toBe(400);
    expect((await loginWithRecoveryCode(user.username, fresh[0] ?? "")).status).toBe(200);
    const events = await securityEventsAbout(user.id);
    expect(events.map((e) => e.action)).toContain("mfa.recovery_codes_regenerated");
  });

  it("error: a wrong or spent code replaces nothing; without MFA there is nothing to replace", async () => {
    const { auth, user } = await signedIn();
    await expectProblem(
      await api("/auth/mfa/recovery-codes", json("POST", auth, { recoveryCode: "AAAAAA-AAAAAA-AAAAAA-AAAAAA" })),
      409,
    );
    const { recoveryCodes } = await enrolThroughApi(auth);
    await expectProblem(
      await api("/auth/mfa/recovery-codes", json("POST", auth, { recoveryCode: "AAAAAA-AAAAAA-AAAAAA-AAAAAA" })),
      400,
    );
    await expectProblem(await api("/auth/mfa/recovery-codes", json("POST", auth, {})), 400);
    // Nothing was replaced: the old codes still work.
    expect((await loginWithRecoveryCode(user.username, recoveryCodes[2] ?? "")).status).toBe(200);
  });

  it("happy: codes of an enrolment made before (10 characters, 50 bits) keep working until regenerated", async () => {
    const { auth, user } = await signedIn();
    await enrolThroughApi(auth);
    const legacy = "ABCDE-23456";
    const handle = openDatabase(loadApiConfig(testEnv).database);
    try {
      await asActor(handle.db, SYSTEM, async (tx) =>
        updateMfa(tx, { userId: user.id, changes: { recoveryCodeHashes: [await sha256Hex("ABCDE23456")] } }),
      );
    } finally {
      await handle.close();
    }
    expect((await loginWithRecoveryCode(user.username, legacy.toLowerCase())).status).toBe(200);
  });
});
