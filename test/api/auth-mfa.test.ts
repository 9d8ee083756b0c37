import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { stepAt, totpCode } from "../../src/auth/totp.ts";
import { userMfa } from "../../src/db/schema/users.ts";
import { expectOAuthError, me, PASSWORD, signedIn, type Tokens, tokenRequest } from "../auth-helpers.ts";
import { api, asSystem, expectProblem } from "../helpers.ts";

describe("MFA (TOTP)", () => {
  async function enrol(auth: { authorization: string }) {
    const setup = (await (await api("/auth/mfa/setup", { method: "POST", headers: auth })).json()) as {
      secret: string;
      otpauthUri: string;
    };
    const code = await totpCode(setup.secret, stepAt(Date.now()));
    const res = await api("/auth/mfa/confirm", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ code }),
    });
    expect(res.status).toBe(200);
    const { recoveryCodes } = (await res.json()) as { recoveryCodes: string[] };
    return { ...setup, recoveryCodes, usedStep: stepAt(Date.now()) };
  }

  async function challenge(username: string): Promise<string> {
    const problem = await expectOAuthError(
      await tokenRequest({ grant_type: "password", username, password: PASSWORD }),
      403,
      "mfa_required",
    );
    expect(problem.error).toBe("mfa_required");
    return problem.mfa_token ?? "";
  }

  const complete = (fields: Record<string, string>) =>
    tokenRequest({ grant_type: "urn:techcorp:params:oauth:grant-type:mfa-otp", ...fields });

  it("sets up with a secret and otpauth URI, and turns on only after a correct code", async () => {
    const { auth, user } = await signedIn();
    const setup = (await (await api("/auth/mfa/setup", { method: "POST", headers: auth })).json()) as {
      secret: string;
      otpauthUri: string;
    };
    expect(setup.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(setup.otpauthUri).toBe(
      `otpauth://totp/${encodeURIComponent(`TechCorp:${user.email}`)}?secret=${setup.secret}&issuer=TechCorp&algorithm=SHA1&digits=6&period=30`,
    );
    const bad = await api("/auth/mfa/confirm", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ code: "000000" }),
    });
    await expectProblem(bad, 400);
    // Not on yet: a password login still gives tokens.
    expect((await tokenRequest({ grant_type: "password", username: user.email, password: PASSWORD })).status).toBe(200);
  });

  it("turns a password login into a challenge completed with a code", async () => {
    const { auth, user } = await signedIn();
    const { secret, usedStep } = await enrol(auth);
    const mfaToken = await challenge(user.email);
    // The confirm step used the current step's code; the next step's code is accepted (drift +1).
    const res = await complete({ mfa_token: mfaToken, otp: await totpCode(secret, usedStep + 1) });
    expect(res.status).toBe(200);
    const tokens = (await res.json()) as Tokens;
    expect((await me(tokens.access_token)).status).toBe(200);
  });

  it("refuses a code that was already used (replay)", async () => {
    const { auth, user } = await signedIn();
    const { secret, usedStep } = await enrol(auth);
    const code = await totpCode(secret, usedStep + 1);
    expect((await complete({ mfa_token: await challenge(user.email), otp: code })).status).toBe(200);
    const replay = await expectOAuthError(
      await complete({ mfa_token: await challenge(user.email), otp: code }),
      400,
      "invalid_grant",
    );
    expect(replay.error).toBe("invalid_grant");
    // The confirm code too.
    const first = await totpCode(secret, usedStep);
    await expectOAuthError(
      await complete({ mfa_token: await challenge(user.email), otp: first }),
      400,
      "invalid_grant",
    );
  });

  it("refuses codes outside the ±1 step window", async () => {
    const { auth, user } = await signedIn();
    const { secret, usedStep } = await enrol(auth);
    await expectOAuthError(
      await complete({ mfa_token: await challenge(user.email), otp: await totpCode(secret, usedStep + 3) }),
      400,
      "invalid_grant",
    );
  });

  it("accepts each recovery code once", async () => {
    const { auth, user } = await signedIn();
    const { recoveryCodes } = await enrol(auth);
    const [code] = recoveryCodes;
    expect(recoveryCodes).toHaveLength(10);
    expect((await complete({ mfa_token: await challenge(user.email), recovery_code: code ?? "" })).status).toBe(200);
    await expectOAuthError(
      await complete({ mfa_token: await challenge(user.email), recovery_code: code ?? "" }),
      400,
      "invalid_grant",
    );
  });

  describe("GET /auth/mfa", () => {
    interface MfaStatusJson {
      status: string;
      enabledAt: string | null;
      recoveryCodes: { remaining: number; issuedAt: string | null; regenerationRecommended: boolean } | null;
    }
    async function status(auth: { authorization: string }): Promise<MfaStatusJson> {
      const res = await api("/auth/mfa", { headers: auth });
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toContain("no-store");
      return (await res.json()) as MfaStatusJson;
    }

    it("says off, then pending after setup, then on with ten fresh codes", async () => {
      const { auth } = await signedIn();
      expect(await status(auth)).toEqual({ status: "off", enabledAt: null, recoveryCodes: null });
      await api("/auth/mfa/setup", { method: "POST", headers: auth });
      expect(await status(auth)).toEqual({ status: "pending", enabledAt: null, recoveryCodes: null });
      const before = Date.now();
      await enrol(auth);
      const on = await status(auth);
      expect(on.status).toBe("on");
      expect(Date.parse(on.enabledAt ?? "")).toBeGreaterThanOrEqual(before - 1000);
      expect(on.recoveryCodes).toMatchObject({ remaining: 10, regenerationRecommended: false });
      expect(Date.parse(on.recoveryCodes?.issuedAt ?? "")).toBeGreaterThanOrEqual(before - 1000);
    });

    it("counts used recovery codes and asks for new ones when fewer than three are left", async () => {
      const { auth, user } = await signedIn();
      const { recoveryCodes } = await enrol(auth);
      for (const code of recoveryCodes.slice(0, 7)) {
        expect((await complete({ mfa_token: await challenge(user.email), recovery_code: code })).status).toBe(200);
      }
      expect((await status(auth)).recoveryCodes).toMatchObject({ remaining: 3, regenerationRecommended: false });
      const eighth = recoveryCodes[7] ?? "";
      expect((await complete({ mfa_token: await challenge(user.email), recovery_code: eighth })).status).toBe(200);
      expect((await status(auth)).recoveryCodes).toMatchObject({ remaining: 2, regenerationRecommended: true });
    });

    it("asks the holder of old 50-bit codes to regenerate them, and stops once they have", async () => {
      const { auth, user } = await signedIn();
      const { secret, usedStep } = await enrol(auth);
      // Codes handed out before migration 0035 carry no issue time: what the migration leaves them.
      await asSystem((tx) =>
        tx.update(userMfa).set({ recoveryCodesIssuedAt: null }).where(eq(userMfa.userId, user.id)),
      );
      expect((await status(auth)).recoveryCodes).toEqual({
        remaining: 10,
        issuedAt: null,
        regenerationRecommended: true,
      });
      const res = await api("/auth/mfa/recovery-codes", {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ code: await totpCode(secret, usedStep + 1) }),
      });
      expect(res.status).toBe(200);
      const renewed = await status(auth);
      expect(renewed.recoveryCodes).toMatchObject({ remaining: 10, regenerationRecommended: false });
      expect(renewed.recoveryCodes?.issuedAt).not.toBeNull();
    });
  });

  it("completes one login per mfa_token: a second code with the same token starts no session", async () => {
    const { auth, user } = await signedIn();
    const { secret, usedStep, recoveryCodes } = await enrol(auth);
    const mfaToken = await challenge(user.email);
    expect((await complete({ mfa_token: mfaToken, otp: await totpCode(secret, usedStep + 1) })).status).toBe(200);
    const replay = await expectOAuthError(
      await complete({ mfa_token: mfaToken, recovery_code: recoveryCodes[0] ?? "" }),
      400,
      "invalid_grant",
    );
    expect(replay.error_description).toMatch(/already used/);
  });

  it("refuses a forged or expired mfa_token", async () => {
    await expectOAuthError(await complete({ mfa_token: "e30.e30.x", otp: "123456" }), 400, "invalid_grant");
  });

  it("needs a valid code to turn off", async () => {
    const { auth, user } = await signedIn();
    const { secret, usedStep } = await enrol(auth);
    const disable = (body: object) =>
      api("/auth/mfa/disable", {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    await expectProblem(await disable({ code: "000000" }), 400);
    await expectProblem(await disable({}), 400);
    expect((await disable({ code: await totpCode(secret, usedStep + 1) })).status).toBe(204);
    expect((await tokenRequest({ grant_type: "password", username: user.email, password: PASSWORD })).status).toBe(200);
  });

  it("cannot be confirmed or disabled before it is set up", async () => {
    const { auth } = await signedIn();
    const post = (path: string, body: object) =>
      api(path, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    await expectProblem(await post("/auth/mfa/confirm", { code: "123456" }), 409);
    await expectProblem(await post("/auth/mfa/disable", { code: "123456" }), 409);
    const malformed = await expectProblem(await post("/auth/mfa/confirm", { code: "12ab" }), 400);
    expect(malformed.errors?.[0]?.pointer).toBe("/code");
  });

  it("cannot be set up twice", async () => {
    const { auth } = await signedIn();
    await enrol(auth);
    await expectProblem(await api("/auth/mfa/setup", { method: "POST", headers: auth }), 409);
  });
});
