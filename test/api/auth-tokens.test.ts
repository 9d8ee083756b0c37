import { describe, expect, it } from "vitest";
import { CLIENT_FREE_ATTEMPTS } from "../../src/durable-objects/login-throttle.ts";
import {
  expectOAuthError,
  me,
  PASSWORD,
  randomIp,
  register,
  signedInAdmin,
  type Tokens,
  tokenRequest,
} from "../auth-helpers.ts";
import { api } from "../helpers.ts";

describe("POST /auth/token (password grant)", () => {
  it("issues a short-lived ES256 access token with the required claims and an opaque refresh token", async () => {
    const { user } = await register();
    const res = await tokenRequest({ grant_type: "password", username: user.email, password: PASSWORD });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const tokens = (await res.json()) as Tokens;
    // A password-grant session holds the data scopes (first-party) and no permission here.
    expect(tokens).toMatchObject({ token_type: "Bearer", expires_in: 900, scope: "read write" });
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
      scope: "read write",
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
