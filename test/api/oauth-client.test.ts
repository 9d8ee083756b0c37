import * as oauth from "oauth4webapi";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { MFA_GRANT_TYPE } from "../../src/auth/token-exchange.ts";
import { stepAt, totpCode } from "../../src/auth/totp.ts";
import { enrolThroughApi } from "../account-helpers.ts";
import { bearer, expectOAuthError, PASSWORD, promote, randomIp, register, signedIn } from "../auth-helpers.ts";
import { api, apiWith, testEnv } from "../helpers.ts";
import { type Fetch, ISSUER, through } from "../oauth-helpers.ts";

// The token endpoint and protected routes as a certified OAuth client library sees them: every
// request below is made, and every answer judged, by oauth4webapi itself.

const CLIENT: oauth.Client = { client_id: "techcorp-first-party" };
const NO_CLIENT_AUTH = oauth.None();

/** The same app with other bindings (a rate limit, a broken dependency). */
const withBindings =
  (bindings: Partial<Env>): Fetch =>
  (request) => {
    const url = new URL(request.url);
    return apiWith(bindings, `${url.pathname}${url.search}`, request);
  };

let as: oauth.AuthorizationServer;

beforeAll(async () => {
  as = await oauth.processDiscoveryResponse(ISSUER, await oauth.discoveryRequest(ISSUER, through()));
});

afterEach(() => {
  vi.restoreAllMocks();
});

function passwordGrant(
  parameters: Record<string, string> | URLSearchParams,
  options = through(),
  client: oauth.Client = CLIENT,
) {
  return oauth.genericTokenEndpointRequest(as, client, NO_CLIENT_AUTH, "password", parameters, options);
}

/** The OAuth error oauth4webapi reads from a refused token request. */
async function refusal(response: Promise<Response>): Promise<oauth.ResponseBodyError> {
  const outcome = await oauth.processGenericTokenEndpointResponse(as, CLIENT, await response).then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof oauth.ResponseBodyError)) {
    throw new Error(`expected an OAuth error response, got ${String(outcome)}`);
  }
  expect(outcome.response.headers.get("content-type")).toBe("application/json");
  expect(outcome.response.headers.get("cache-control")).toBe("no-store");
  // The problem members stay in the body beside the OAuth ones.
  expect(outcome.cause).toMatchObject({
    type: expect.stringMatching(/^\/problems\//),
    title: expect.any(String),
    status: outcome.status,
    detail: expect.any(String),
    requestId: outcome.response.headers.get("x-request-id"),
    error_description: expect.stringMatching(/^[\x20\x21\x23-\x5b\x5d-\x7e]+$/),
  });
  return outcome;
}

describe("metadata", () => {
  it("is discovered at the RFC 8414 and the OpenID Connect well-known addresses, naming the issuer", async () => {
    const metadata = await oauth.processDiscoveryResponse(
      ISSUER,
      await oauth.discoveryRequest(ISSUER, { ...through(), algorithm: "oauth2" }),
    );
    expect(metadata).toMatchObject({
      issuer: testEnv.JWT_ISSUER,
      token_endpoint: `${testEnv.PUBLIC_URL}/auth/token`,
      jwks_uri: `${testEnv.PUBLIC_URL}/.well-known/jwks.json`,
      grant_types_supported: [
        "authorization_code",
        "refresh_token",
        "password",
        MFA_GRANT_TYPE,
        "urn:ietf:params:oauth:grant-type:device_code",
      ],
      token_endpoint_auth_methods_supported: ["none", "client_secret_basic"],
      response_types_supported: ["code"],
    });
    // The OpenID Connect document says the same, plus what that specification requires besides.
    expect(as).toEqual({
      ...metadata,
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: ["ES256"],
    });
  });
});

describe("grants", () => {
  it("password: a Bearer token that validates as an RFC 9068 JWT access token for our client", async () => {
    const { user } = await register();
    const tokens = await oauth.processGenericTokenEndpointResponse(
      as,
      CLIENT,
      await passwordGrant({ username: user.username, password: PASSWORD }),
    );
    expect(tokens.token_type).toBe("bearer");
    expect(tokens.expires_in).toBe(900);
    const request = new Request(`${testEnv.PUBLIC_URL}/users/me`, { headers: bearer(tokens.access_token) });
    // Fetches the key set from jwks_uri through the worker and checks typ, iss, aud, exp, iat, jti, sub, client_id.
    const claims = await oauth.validateJwtAccessToken(as, request, testEnv.JWT_AUDIENCE, through());
    expect(claims).toMatchObject({ sub: user.id, client_id: CLIENT.client_id, iss: testEnv.JWT_ISSUER });
  });

  it("refresh_token: rotates, and the new access token validates too", async () => {
    const { user } = await register();
    const first = await oauth.processGenericTokenEndpointResponse(
      as,
      CLIENT,
      await passwordGrant({ username: user.email, password: PASSWORD }),
    );
    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      CLIENT,
      await oauth.refreshTokenGrantRequest(as, CLIENT, NO_CLIENT_AUTH, first.refresh_token ?? "", through()),
    );
    expect(refreshed.refresh_token).not.toBe(first.refresh_token);
    const request = new Request(`${testEnv.PUBLIC_URL}/users/me`, { headers: bearer(refreshed.access_token) });
    expect((await oauth.validateJwtAccessToken(as, request, testEnv.JWT_AUDIENCE, through())).client_id).toBe(
      CLIENT.client_id,
    );
  });

  it("MFA: mfa_required carries the mfa_token, and the otp grant completes the login", async () => {
    const { user, auth } = await signedIn();
    const setup = await enrolThroughApi(auth);
    // The next step's code: the confirmation used this one's.
    const step = stepAt(Date.now());

    const challenge = await refusal(passwordGrant({ username: user.email, password: PASSWORD }));
    expect(challenge).toMatchObject({ status: 403, error: "mfa_required" });
    const mfaToken = String(challenge.cause.mfa_token);
    const tokens = await oauth.processGenericTokenEndpointResponse(
      as,
      CLIENT,
      await oauth.genericTokenEndpointRequest(
        as,
        CLIENT,
        NO_CLIENT_AUTH,
        MFA_GRANT_TYPE,
        { mfa_token: mfaToken, otp: await totpCode(setup.secret, step + 1) },
        through(),
      ),
    );
    expect(tokens.access_token).toBeTruthy();
  });
});

describe("token endpoint errors, as an OAuth client reads them", () => {
  it("a wrong password is invalid_grant", async () => {
    const { user } = await register();
    expect(await refusal(passwordGrant({ username: user.email, password: "wrong password" }))).toMatchObject({
      status: 400,
      error: "invalid_grant",
    });
  });

  it("a missing parameter is invalid_request, and an unknown grant type unsupported_grant_type", async () => {
    expect(await refusal(passwordGrant({ username: "someone" }))).toMatchObject({ error: "invalid_request" });
    const unknown = oauth.genericTokenEndpointRequest(as, CLIENT, NO_CLIENT_AUTH, "client_credentials", {}, through());
    expect(await refusal(unknown)).toMatchObject({ status: 400, error: "unsupported_grant_type" });
  });

  it("a parameter sent twice is invalid_request (RFC 6749 §3.2), whichever value comes first", async () => {
    const { user } = await register();
    const other = await register();
    for (const names of [
      [user.username, other.user.username],
      [other.user.username, user.username],
    ]) {
      const parameters = new URLSearchParams(names.map((name) => ["username", name]));
      parameters.set("password", PASSWORD);
      const error = await refusal(passwordGrant(parameters));
      expect(error).toMatchObject({ status: 400, error: "invalid_request" });
      expect(error.cause.errors).toEqual([{ in: "body", pointer: "/username", message: expect.any(String) }]);
    }
  });

  it("a client_id other than ours is invalid_client", async () => {
    const { user } = await register();
    const stranger = passwordGrant({ username: user.email, password: PASSWORD }, through(), {
      client_id: "someone-else",
    });
    expect(await refusal(stranger)).toMatchObject({ status: 401, error: "invalid_client" });
  });

  it("the login throttle's 429 is slow_down, with Retry-After", async () => {
    const { user } = await register();
    const options = through();
    for (let i = 0; i < 6; i++) await passwordGrant({ username: user.email, password: "wrong password" }, options);
    const error = await refusal(passwordGrant({ username: user.email, password: PASSWORD }, options));
    expect(error).toMatchObject({ status: 429, error: "slow_down" });
    expect(Number(error.response.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("the gateway's rate limit 429 is slow_down, with Retry-After", async () => {
    const limited = withBindings({
      RATE_LIMIT_POLICIES: JSON.stringify({ token: [{ name: "burst", limit: 1, windowSeconds: 60 }] }),
    } as Partial<Env>);
    const options = through(limited);
    await passwordGrant({ username: "nobody", password: "nothing" }, options);
    const error = await refusal(passwordGrant({ username: "nobody", password: "nothing" }, options));
    expect(error).toMatchObject({ status: 429, error: "slow_down" });
    expect(error.cause.type).toBe("/problems/rate_limited");
    expect(Number(error.response.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("a dependency down is a 503 temporarily_unavailable in JSON (the login throttle, the rate limiter)", async () => {
    // Real Durable Object namespaces whose objects lack the methods called: every call fails.
    const broken = testEnv.SESSIONS as unknown;
    for (const bindings of [
      { LOGIN_THROTTLE: broken as Env["LOGIN_THROTTLE"] },
      { RATE_LIMITER: broken as Env["RATE_LIMITER"], RATE_LIMIT_FAILURE_MODE: "closed" },
    ] as Partial<Env>[]) {
      const res = await passwordGrant({ username: "nobody", password: "nothing" }, through(withBindings(bindings)));
      // oauth4webapi reads no error body from a 5xx; the client sees the status, and this body.
      await expectOAuthError(res, 503, "temporarily_unavailable");
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    }
  });

  it("a misconfigured deployment is a 500 server_error in JSON, naming the variable", async () => {
    const res = await passwordGrant(
      { username: "nobody", password: "nothing" },
      through(withBindings({ DATABASE_URL: "not a url" })),
    );
    const body = await expectOAuthError(res, 500, "server_error");
    expect(body.type).toBe("/problems/config_invalid");
    expect(body.error_description).toContain("DATABASE_URL");
  });

  it("a body neither form-encoded nor JSON is a 415 invalid_request in JSON", async () => {
    const res = await api("/auth/token", {
      method: "POST",
      headers: { "content-type": "text/plain", "cf-connecting-ip": randomIp() },
      body: "grant_type=password&username=a&password=b",
    });
    await expectOAuthError(res, 415, "invalid_request");
  });

  it("a form body over 64 KiB is a 413 invalid_request in JSON, with or without Content-Length", async () => {
    const big = `grant_type=password&username=a&password=${"x".repeat(70_000)}`;
    const streamed = new Blob([big]).stream();
    for (const body of [big, streamed]) {
      const res = await api("/auth/token", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": randomIp() },
        body,
        ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
      } as RequestInit);
      await expectOAuthError(res, 413, "invalid_request");
    }
  });

  it("a GET is a 405 invalid_request in JSON, with Allow", async () => {
    const res = await api("/auth/token");
    await expectOAuthError(res, 405, "invalid_request");
    expect(res.headers.get("allow")).toBe("POST");
  });

  it("JSON bodies are answered the same way", async () => {
    const res = await api("/auth/token", {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": randomIp() },
      body: JSON.stringify({ grant_type: "password", username: "x" }),
    });
    const body = await expectOAuthError(res, 400, "invalid_request");
    expect(body.error_description).not.toContain('"');
  });

  it("a JSON member given twice is invalid_request too (JSON.parse would keep the last)", async () => {
    const { user } = await register();
    const password = JSON.stringify(PASSWORD);
    const res = await api("/auth/token", {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": randomIp() },
      body: `{"grant_type":"password","username":"someone-else","username":${JSON.stringify(user.email)},"password":${password}}`,
    });
    const body = await expectOAuthError(res, 400, "invalid_request");
    expect(body.errors).toEqual([{ in: "body", pointer: "/username", message: expect.any(String) }]);
  });
});

describe("form bodies", () => {
  it("are read as bytes, never with .text() (workerd warns on each such read of a non-text body)", async () => {
    const { user } = await register();
    const text = vi.spyOn(Request.prototype, "text");
    const res = await apiWith({}, "/auth/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": randomIp() },
      body: new URLSearchParams({ grant_type: "password", username: user.email, password: PASSWORD }).toString(),
    });
    expect(res.status).toBe(200);
    // Hono reads JSON through .text(), which is fine: JSON is text. A form is not.
    const types = text.mock.contexts.map((request) => (request as Request).headers.get("content-type") ?? "");
    expect(types.filter((type) => !/^(text\/|application\/([\w.-]+\+)?json)/i.test(type))).toEqual([]);
  });

  it("treat a parameter without a value as omitted (RFC 6749 §3.1), so it does not count as repeated", async () => {
    const { user } = await register();
    const res = await api("/auth/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": randomIp() },
      body: `grant_type=password&username=&username=${encodeURIComponent(user.email)}&password=${encodeURIComponent(PASSWORD)}`,
    });
    expect(res.status).toBe(200);
  });
});

describe("protected routes, as an OAuth client reads their challenges (RFC 6750 §3)", () => {
  const usersMe = new URL(`${testEnv.PUBLIC_URL}/users/me`);

  async function challengeOf(response: Promise<Response>): Promise<oauth.WWWAuthenticateChallenge> {
    const outcome = await response.then(
      (res) => new Error(`expected a challenge, got ${res.status}`),
      (error: unknown) => error,
    );
    if (!(outcome instanceof oauth.WWWAuthenticateChallengeError)) throw outcome;
    expect(outcome.cause).toHaveLength(1);
    return outcome.cause[0] as oauth.WWWAuthenticateChallenge;
  }

  it("a refused token: invalid_token with a description", async () => {
    const challenge = await challengeOf(
      oauth.protectedResourceRequest("not.a.token", "GET", usersMe, undefined, null, through()),
    );
    expect(challenge).toEqual({
      scheme: "bearer",
      parameters: { realm: "techcorp-api", error: "invalid_token", error_description: expect.any(String) },
    });
  });

  it("a missing permission: 403 insufficient_scope naming the scope", async () => {
    const { tokens } = await signedIn();
    const users = new URL(`${testEnv.PUBLIC_URL}/users`);
    const outcome = oauth.protectedResourceRequest(tokens.access_token, "GET", users, undefined, null, through());
    const challenge = await challengeOf(outcome);
    expect(challenge).toMatchObject({
      scheme: "bearer",
      parameters: { realm: "techcorp-api", error: "insufficient_scope", scope: "users:read" },
    });
  });

  it("the permission granted, the same token passes (permissions are read from the session)", async () => {
    const { tokens, user } = await signedIn();
    await promote(user.id, { permissions: ["users:read"] });
    const users = new URL(`${testEnv.PUBLIC_URL}/users`);
    const res = await oauth.protectedResourceRequest(tokens.access_token, "GET", users, undefined, null, through());
    expect(res.status).toBe(200);
  });
});
