import { describe, expect, it } from "vitest";
import { stepAt, totpCode } from "../../src/auth/totp.ts";
import { CLIENT_FREE_ATTEMPTS } from "../../src/durable-objects/login-throttle.ts";
import {
  bearer,
  expectOAuthError,
  login,
  PASSWORD,
  randomIp,
  register,
  signedIn,
  signedInAdmin,
  type Tokens,
  tokenRequest,
} from "../auth-helpers.ts";
import { api, expectProblem, type ProblemJson } from "../helpers.ts";

type OAuthProblem = ProblemJson & { error: string; error_description: string; mfa_token?: string };

// From a fresh address each time: the login throttle counts wrong refresh tokens per client.
const refresh = (refreshToken: string) =>
  api("/auth/refresh", {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": randomIp() },
    body: JSON.stringify({ refresh_token: refreshToken }),
  });

const me = (token: string) => api("/users/me", { headers: bearer(token) });

describe("POST /auth/token (password grant)", () => {
  it("issues a short-lived ES256 access token with the required claims and an opaque refresh token", async () => {
    const { user } = await register();
    const res = await tokenRequest({ grant_type: "password", username: user.email, password: PASSWORD });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const tokens = (await res.json()) as Tokens;
    expect(tokens).toMatchObject({ token_type: "Bearer", expires_in: 900, scope: "" });
    expect(tokens.refresh_token).toMatch(/^[0-9a-f-]{36}\.[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}$/);

    const [header, payload] = tokens.access_token
      .split(".")
      .slice(0, 2)
      .map((part) => JSON.parse(atob(part.replaceAll("-", "+").replaceAll("_", "/"))) as Record<string, unknown>);
    expect(header).toMatchObject({ alg: "ES256", typ: "at+jwt", kid: expect.any(String) });
    expect(payload).toMatchObject({
      iss: "http://api.test",
      aud: "techcorp-api",
      sub: user.id,
      sid: expect.any(String),
      jti: expect.any(String),
      role: "user",
      scope: "",
    });
    expect(Number(payload?.exp) - Number(payload?.iat)).toBe(900);
    expect((await me(tokens.access_token)).status).toBe(200);
  });

  it("accepts JSON as well as form bodies, and the username as well as the email", async () => {
    const { user } = await register();
    const res = await api("/auth/token", {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": randomIp() },
      body: JSON.stringify({ grant_type: "password", username: user.username.toUpperCase(), password: PASSWORD }),
    });
    expect(res.status).toBe(200);
  });

  it("gives an unknown user and a wrong password the same answer", async () => {
    const { user } = await register();
    const wrong = await expectOAuthError(
      await tokenRequest({ grant_type: "password", username: user.email, password: "nope nope nope" }),
      400,
      "invalid_grant",
    );
    const unknown = await expectOAuthError(
      await tokenRequest({ grant_type: "password", username: "nobody-at-all@example.com", password: "nope nope nope" }),
      400,
      "invalid_grant",
    );
    const { requestId: _a, ...wrongBody } = wrong;
    const { requestId: _b, ...unknownBody } = unknown;
    expect(wrongBody).toEqual(unknownBody);
    expect(wrong.error).toBe("invalid_grant");
  });

  it("names missing fields with invalid_request", async () => {
    const problem = await expectOAuthError(
      await tokenRequest({ grant_type: "password", username: "x" }),
      400,
      "invalid_request",
    );
    expect(problem.error).toBe("invalid_request");
    expect(problem.errors).toEqual([{ in: "body", pointer: "/password", message: expect.any(String) }]);
  });

  it("answers an unknown grant type with unsupported_grant_type", async () => {
    const problem = await expectOAuthError(
      await tokenRequest({ grant_type: "client_credentials" }),
      400,
      "unsupported_grant_type",
    );
    expect(problem.error).toBe("unsupported_grant_type");
  });

  it("slows down repeated failures for one account, with Retry-After, whatever the client address", async () => {
    const { user } = await register();
    for (let i = 0; i < 5; i++) {
      await expectOAuthError(
        await tokenRequest({ grant_type: "password", username: user.email, password: "wrong password" }),
        400,
        "invalid_grant",
      );
    }
    const res = await tokenRequest({ grant_type: "password", username: user.email, password: PASSWORD });
    const problem = await expectOAuthError(res, 429, "slow_down");
    expect(problem.error).toBe("slow_down");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("slows down one client address trying many accounts", async () => {
    const ip = randomIp();
    for (let i = 0; i < CLIENT_FREE_ATTEMPTS; i++) {
      await tokenRequest(
        { grant_type: "password", username: `nobody-${i}@example.com`, password: "wrong password" },
        ip,
      );
    }
    const { user } = await register();
    await expectOAuthError(
      await tokenRequest({ grant_type: "password", username: user.email, password: PASSWORD }, ip),
      429,
      "slow_down",
    );
    expect((await tokenRequest({ grant_type: "password", username: user.email, password: PASSWORD })).status).toBe(200);
  });

  it("refuses a disabled user like a wrong password", async () => {
    const admin = await signedInAdmin();
    const { user } = await register();
    await api(`/users/${user.id}/disable`, { method: "POST", headers: admin.auth });
    const problem = await expectOAuthError(
      await tokenRequest({ grant_type: "password", username: user.email, password: PASSWORD }),
      400,
      "invalid_grant",
    );
    expect(problem.error_description).toBe("Invalid username or password.");
  });
});

describe("refresh", () => {
  it("rotates the refresh token on every use", async () => {
    const { tokens } = await signedIn();
    const first = await refresh(tokens.refresh_token);
    expect(first.status).toBe(200);
    const rotated = (await first.json()) as Tokens;
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token);
    expect((await me(rotated.access_token)).status).toBe(200);
    const second = (await (await refresh(rotated.refresh_token)).json()) as Tokens;
    expect(second.refresh_token).not.toBe(rotated.refresh_token);
  });

  it("also works through the token endpoint's refresh_token grant", async () => {
    const { tokens } = await signedIn();
    const res = await tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refresh_token });
    expect(res.status).toBe(200);
  });

  it("ends the whole session when a rotated refresh token is reused", async () => {
    const { tokens } = await signedIn();
    const a = (await (await refresh(tokens.refresh_token)).json()) as Tokens;
    const b = (await (await refresh(a.refresh_token)).json()) as Tokens;
    // The first token is two rotations old: a thief replaying it.
    const reuse = (await expectProblem(await refresh(tokens.refresh_token), 400)) as OAuthProblem;
    expect(reuse.error).toBe("invalid_grant");
    expect(reuse.error_description).toMatch(/already used/);
    // Everything of the session is dead, including the legitimate holder's newest tokens.
    await expectProblem(await refresh(b.refresh_token), 400);
    await expectProblem(await me(b.access_token), 401);
  });

  it("lets two concurrent refreshes of one client both succeed with the same new token", async () => {
    const { tokens } = await signedIn();
    const results = await Promise.all(Array.from({ length: 5 }, () => refresh(tokens.refresh_token)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const bodies = (await Promise.all(results.map((r) => r.json()))) as Tokens[];
    expect(new Set(bodies.map((b) => b.refresh_token)).size).toBe(1);
    const next = bodies[0]?.refresh_token ?? "";
    expect((await refresh(next)).status).toBe(200);
  });

  it("refuses a malformed or unknown refresh token", async () => {
    await expectProblem(await refresh("not-a-token"), 400);
    const { user } = await signedIn();
    const forged = `${user.id}.${crypto.randomUUID()}.${"A".repeat(43)}`;
    await expectProblem(await refresh(forged), 400);
  });
});

describe("logout and sessions", () => {
  it("ends the session: its access and refresh tokens are refused at once", async () => {
    const { tokens, auth } = await signedIn();
    const res = await api("/auth/logout", { method: "POST", headers: auth });
    expect(res.status).toBe(204);
    const problem = await expectProblem(await me(tokens.access_token), 401);
    expect(problem.detail).toMatch(/session has ended/);
    await expectProblem(await refresh(tokens.refresh_token), 400);
  });

  it("lists my sessions and ends one or all of them", async () => {
    const { user, auth, tokens } = await signedIn();
    const other = await login(user.username);
    const listed = (await (await api("/auth/sessions", { headers: auth })).json()) as {
      data: { id: string; current: boolean; ip: string | null }[];
    };
    expect(listed.data).toHaveLength(2);
    expect(listed.data.filter((s) => s.current)).toHaveLength(1);
    expect(listed.data.every((s) => s.ip?.startsWith("10."))).toBe(true);

    const otherSession = listed.data.find((s) => !s.current)?.id ?? "";
    expect((await api(`/auth/sessions/${otherSession}`, { method: "DELETE", headers: auth })).status).toBe(204);
    await expectProblem(await me(other.access_token), 401);
    expect((await me(tokens.access_token)).status).toBe(200);

    expect((await api("/auth/sessions", { method: "DELETE", headers: auth })).status).toBe(204);
    await expectProblem(await me(tokens.access_token), 401);
  });

  it("validates the session id", async () => {
    const { auth } = await signedIn();
    await expectProblem(await api("/auth/sessions/not-a-uuid", { method: "DELETE", headers: auth }), 400);
    await expectProblem(await api(`/auth/sessions/${crypto.randomUUID()}`, { method: "DELETE", headers: auth }), 404);
  });

  it("cannot end another user's session (it is not among mine)", async () => {
    const alice = await signedIn();
    const bob = await signedIn();
    const bobs = (await (await api("/auth/sessions", { headers: bob.auth })).json()) as { data: { id: string }[] };
    const target = bobs.data[0]?.id ?? "";
    await expectProblem(await api(`/auth/sessions/${target}`, { method: "DELETE", headers: alice.auth }), 404);
    expect((await me(bob.tokens.access_token)).status).toBe(200);
  });
});

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

describe("discovery", () => {
  it("publishes the current and previous public keys, without private parts", async () => {
    const jwks = (await (await api("/.well-known/jwks.json")).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys).toHaveLength(2);
    for (const key of jwks.keys) {
      expect(key).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig", kid: expect.any(String) });
      expect(key).not.toHaveProperty("d");
    }
  });

  it("describes the issuer, key set and token endpoint", async () => {
    const doc = (await (await api("/.well-known/openid-configuration")).json()) as Record<string, unknown>;
    expect(doc).toMatchObject({
      issuer: "http://api.test",
      jwks_uri: "http://api.test/.well-known/jwks.json",
      token_endpoint: "http://api.test/auth/token",
      id_token_signing_alg_values_supported: ["ES256"],
    });
  });
});
