import { runInDurableObject } from "cloudflare:test";
import { and, eq } from "drizzle-orm";
import { base64url, createLocalJWKSet, decodeJwt, type JSONWebKeySet, jwtVerify } from "jose";
import * as oauth from "oauth4webapi";
import { beforeAll, describe, expect, it } from "vitest";
import { stepAt, totpCode } from "../../src/auth/totp.ts";
import { auditEvents } from "../../src/db/schema/audit.ts";
import type { Sessions } from "../../src/durable-objects/sessions.ts";
import { enrolThroughApi } from "../account-helpers.ts";
import { bearer, expectOAuthError, me, PASSWORD, promote, register, signedIn } from "../auth-helpers.ts";
import { api, asSystem, expectProblem, testEnv } from "../helpers.ts";
import {
  authorizeThrough,
  Browser,
  discover,
  exchangeCode,
  hiddenFields,
  ISSUER,
  MOBILE,
  pkceRequest,
  RESOURCE_SERVER,
  RESOURCE_SERVER_SECRET,
  redirectOf,
  signInThrough,
  through,
  tokensOf,
  WEB,
  WEB_REDIRECT,
} from "../oauth-helpers.ts";

// Authorization code with PKCE, ID tokens, userinfo, revocation and introspection, each request
// made and each answer judged by oauth4webapi (a certified OpenID relying party library), the
// sign-in form driven as a browser would.

const WEB_CLIENT: oauth.Client = { client_id: WEB.id };
const MOBILE_CLIENT: oauth.Client = { client_id: MOBILE.id };
const RS_CLIENT: oauth.Client = { client_id: RESOURCE_SERVER.id };
const NONE = oauth.None();
const RS_AUTH = oauth.ClientSecretBasic(RESOURCE_SERVER_SECRET);

let as: oauth.AuthorizationServer;

beforeAll(async () => {
  as = await discover();
});

/** Signs a fresh user in through the web client: the tokens, as oauth4webapi validated them. */
async function codeFlow(
  options: {
    scope?: string;
    username?: string;
    mfaSecret?: string | undefined;
    /** Steps after the current one for the TOTP code (a code already used is refused). */
    mfaStep?: number;
  } = {},
) {
  const account = options.username ? undefined : await register();
  const username = options.username ?? account?.user.username ?? "";
  const request = await pkceRequest({ ...(options.scope !== undefined && { scope: options.scope }) });
  // A staff account has MFA on (required): the page asks for its code after the password.
  const secret = options.mfaSecret;
  const otp = secret ? { otp: () => totpCode(secret, stepAt(Date.now()) + (options.mfaStep ?? 0)) } : {};
  const callback = await authorizeThrough(as, new Browser(), request, { username, password: PASSWORD, ...otp });
  const tokens = await tokensOf(as, request, await exchangeCode(as, callback, request));
  return { user: account?.user, tokens, request };
}

/** A fresh user signed in on the page for `request` (the web client's by default): the callback. */
async function signedInCallback(request: Awaited<ReturnType<typeof pkceRequest>>) {
  const { user } = await register();
  return authorizeThrough(as, new Browser(), request, { username: user.username, password: PASSWORD });
}

describe("discovery", () => {
  it("is complete per RFC 8414 and OpenID Connect Discovery, and oauth4webapi accepts it", async () => {
    const base = testEnv.PUBLIC_URL;
    expect(as).toMatchObject({
      issuer: testEnv.JWT_ISSUER,
      authorization_endpoint: `${base}/auth/authorize`,
      token_endpoint: `${base}/auth/token`,
      userinfo_endpoint: `${base}/auth/userinfo`,
      revocation_endpoint: `${base}/auth/revoke`,
      introspection_endpoint: `${base}/auth/introspect`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      response_types_supported: ["code"],
      code_challenge_methods_supported: ["S256"],
      token_endpoint_auth_methods_supported: ["none", "client_secret_basic"],
      introspection_endpoint_auth_methods_supported: ["client_secret_basic"],
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: ["ES256"],
      authorization_response_iss_parameter_supported: true,
      response_modes_supported: ["query"],
      prompt_values_supported: ["none", "login"],
    });
    expect(as.grant_types_supported).toEqual(
      expect.arrayContaining(["authorization_code", "refresh_token", "password"]),
    );
    expect(as.scopes_supported).toEqual(expect.arrayContaining(["openid", "profile", "email", "users:read"]));
  });
});

describe("authorization code with PKCE (happy path)", () => {
  it("signs in on the page and exchanges the code for tokens with a valid ID token", async () => {
    const { user, tokens, request } = await codeFlow({ scope: "openid profile email read write" });
    expect(tokens.token_type).toBe("bearer");
    expect(tokens.scope).toBe("openid profile email read write");
    const claims = oauth.getValidatedIdTokenClaims(tokens);
    expect(claims).toMatchObject({
      iss: testEnv.JWT_ISSUER,
      sub: user?.id,
      aud: WEB.id,
      nonce: request.nonce,
      amr: ["pwd"],
      auth_time: expect.any(Number),
      at_hash: expect.any(String),
    });
    // The signature, against the published keys.
    const keys = (await (await api("/.well-known/jwks.json")).json()) as JSONWebKeySet;
    const verified = await jwtVerify(tokens.id_token ?? "", createLocalJWKSet(keys), {
      issuer: testEnv.JWT_ISSUER,
      audience: WEB.id,
      typ: "JWT",
    });
    expect(verified.payload.sub).toBe(user?.id);
    // at_hash: the left half of the access token's SHA-256, base64url (OpenID Connect Core §3.1.3.6).
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(tokens.access_token)));
    expect(verified.payload.at_hash).toBe(base64url.encode(digest.slice(0, 16)));
    // The access token names the real client, and works.
    const access = decodeJwt(tokens.access_token);
    expect(access).toMatchObject({ client_id: WEB.id, sub: user?.id });
    expect((await me(tokens.access_token)).status).toBe(200);
    // The login is a security event, recorded with it.
    const events = await asSystem((tx) =>
      tx
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.targetUserId, user?.id ?? ""), eq(auditEvents.action, "user.login_succeeded"))),
    );
    expect(events).toEqual([
      expect.objectContaining({
        action: "user.login_succeeded",
        outcome: "success",
        actorId: user?.id,
        details: { method: "password", grant: "authorization_code", clientId: WEB.id },
      }),
    ]);
  });

  it("a native client's loopback redirect URI matches at any port (RFC 8252 §7.3)", async () => {
    const { user } = await register();
    const redirectUri = "http://127.0.0.1:51234/oauth/callback";
    const request = await pkceRequest({ clientId: MOBILE.id, redirectUri, scope: "openid" });
    const res = await signInThrough(new Browser(), request.params, { username: user.username, password: PASSWORD });
    const location = redirectOf(res);
    expect(location.origin).toBe("http://127.0.0.1:51234");
    const callback = oauth.validateAuthResponse(as, MOBILE_CLIENT, location, request.state);
    const tokens = await tokensOf(as, request, await exchangeCode(as, callback, request));
    expect(decodeJwt(tokens.access_token).client_id).toBe(MOBILE.id);
  });

  it("an account with MFA on is asked for its code on the page; amr says so", async () => {
    const { user, auth } = await signedIn();
    const { secret } = await enrolThroughApi(auth);
    // The next step's code: the confirmation used this one's.
    const step = stepAt(Date.now());
    const request = await pkceRequest();
    const callback = await authorizeThrough(as, new Browser(), request, {
      username: user.email,
      password: PASSWORD,
      otp: () => totpCode(secret, step + 1),
    });
    const tokens = await tokensOf(as, request, await exchangeCode(as, callback, request));
    expect(oauth.getValidatedIdTokenClaims(tokens)?.amr).toEqual(["pwd", "otp", "mfa"]);
  });

  it("refresh: the client's refresh token rotates, for that client", async () => {
    const { tokens } = await codeFlow({ scope: "openid" });
    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      WEB_CLIENT,
      await oauth.refreshTokenGrantRequest(as, WEB_CLIENT, NONE, tokens.refresh_token ?? "", through()),
    );
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(decodeJwt(refreshed.access_token)).toMatchObject({ client_id: WEB.id, scope: "openid" });
  });

  it("refresh: a new ID token with the same iss, sub, aud and auth_time, a new at_hash and no nonce (OpenID Connect Core §12.2)", async () => {
    const { tokens } = await codeFlow({ scope: "openid profile" });
    const original = oauth.getValidatedIdTokenClaims(tokens);
    // A client that requires auth_time: oauth4webapi then refuses an ID token without one.
    const client: oauth.Client = { client_id: WEB.id, require_auth_time: true };
    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, NONE, tokens.refresh_token ?? "", through()),
    );
    const claims = oauth.getValidatedIdTokenClaims(refreshed);
    expect(claims).toMatchObject({
      iss: original?.iss,
      sub: original?.sub,
      aud: original?.aud,
      auth_time: original?.auth_time,
      amr: original?.amr,
      sid: original?.sid,
    });
    expect(claims).not.toHaveProperty("nonce");
    expect(claims?.at_hash).not.toBe(original?.at_hash);
    expect(claims?.iat).toBeGreaterThanOrEqual(original?.iat ?? Number.POSITIVE_INFINITY);
    // Its at_hash is the new access token's.
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(refreshed.access_token)),
    );
    expect(claims?.at_hash).toBe(base64url.encode(digest.slice(0, 16)));
  });

  it("refresh: no ID token when openid was not granted", async () => {
    const { tokens } = await codeFlow({ scope: "profile" });
    expect(tokens.id_token).toBeUndefined();
    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      WEB_CLIENT,
      await oauth.refreshTokenGrantRequest(as, WEB_CLIENT, NONE, tokens.refresh_token ?? "", through()),
    );
    expect(refreshed.id_token).toBeUndefined();
  });

  it("scopes granted are those asked for that the user holds, and the token acts with those alone", async () => {
    const { user } = await register();
    const mfaSecret = await promote(user.id, { permissions: ["users:read", "users:write"] });
    const { tokens } = await codeFlow({ username: user.username, scope: "openid users:read users:manage", mfaSecret });
    // users:manage is not held, users:write not asked.
    expect(tokens.scope).toBe("openid users:read");
    expect((await api("/users", { headers: bearer(tokens.access_token) })).status).toBe(200);
    const write = await api(`/users/${crypto.randomUUID()}`, {
      method: "PATCH",
      headers: { ...bearer(tokens.access_token), "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ displayName: "x" }),
    });
    expect(write.status).toBe(403);
  });
});

describe("required actions through the authorization code flow", () => {
  it("security: a staff account without MFA gets a session that can only enrol it", async () => {
    const { user } = await register();
    await promote(user.id, { permissions: ["users:read"] }, { mfa: false });
    const { tokens } = await codeFlow({ username: user.username, scope: "openid read users:read" });
    const problem = (await expectProblem(
      await api("/users", { headers: bearer(tokens.access_token) }),
      403,
    )) as unknown as {
      type: string;
      requiredActions: string[];
    };
    expect(problem).toMatchObject({ type: "/problems/required_action", requiredActions: ["CONFIGURE_TOTP"] });
    expect((await api("/users/me", { headers: bearer(tokens.access_token) })).status).toBe(200);
  });
});

describe("scopes: an administrator's token acts as one only with the admin scope", () => {
  it("without admin, an administrator's token is refused an administrators-only route", async () => {
    const { user } = await register();
    const mfaSecret = await promote(user.id, { role: "admin" });
    const plain = await codeFlow({ username: user.username, scope: "openid users:read", mfaSecret });
    expect(plain.tokens.scope).toBe("openid users:read");
    expect(decodeJwt(plain.tokens.access_token).role).toBe("user");
    expect((await api("/users", { headers: bearer(plain.tokens.access_token) })).status).toBe(200);
    const suppressed = "/analytics/search/suppressed-queries";
    expect((await api(suppressed, { headers: bearer(plain.tokens.access_token) })).status).toBe(403);
    // The next step's code: the first sign-in used this step's (a code is never accepted twice).
    const admin = await codeFlow({ username: user.username, scope: "openid admin", mfaSecret, mfaStep: 1 });
    expect(admin.tokens.scope).toBe("openid admin");
    expect((await api(suppressed, { headers: bearer(admin.tokens.access_token) })).status).toBe(200);
  });

  it("a user asking for admin is not granted it", async () => {
    const { tokens } = await codeFlow({ scope: "openid admin users:read" });
    expect(tokens.scope).toBe("openid");
  });
});

describe("userinfo (OpenID Connect Core §5.3)", () => {
  it("answers the claims of the granted scopes, by GET and by POST", async () => {
    const { user, tokens } = await codeFlow();
    const res = await oauth.userInfoRequest(as, WEB_CLIENT, tokens.access_token, through());
    const claims = await oauth.processUserInfoResponse(as, WEB_CLIENT, user?.id ?? "", res);
    expect(claims).toMatchObject({
      sub: user?.id,
      preferred_username: user?.username,
      name: user?.username,
      email: user?.email,
      email_verified: false,
    });
    const posted = await api("/auth/userinfo", { method: "POST", headers: bearer(tokens.access_token) });
    expect(await posted.json()).toMatchObject({ sub: user?.id, email: user?.email });
  });

  it("without the email scope there are no email claims; without openid it is refused", async () => {
    const { user, tokens } = await codeFlow({ scope: "openid profile" });
    const claims = (await (await api("/auth/userinfo", { headers: bearer(tokens.access_token) })).json()) as Record<
      string,
      unknown
    >;
    expect(claims.sub).toBe(user?.id);
    expect(claims).not.toHaveProperty("email");
    const password = await signedIn();
    const refused = await api("/auth/userinfo", { headers: password.auth });
    await expectProblem(refused, 403);
    expect(refused.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
  });
});

describe("revocation (RFC 7009) and introspection (RFC 7662)", () => {
  const introspect = async (token: string) =>
    oauth.processIntrospectionResponse(
      as,
      RS_CLIENT,
      await oauth.introspectionRequest(as, RS_CLIENT, RS_AUTH, token, through()),
    );

  it("introspection tells a live access and refresh token, with scope and client", async () => {
    const { user, tokens } = await codeFlow({ scope: "openid email" });
    expect(await introspect(tokens.access_token)).toMatchObject({
      active: true,
      sub: user?.id,
      client_id: WEB.id,
      scope: "openid email",
      token_type: "Bearer",
    });
    expect(await introspect(tokens.refresh_token ?? "")).toMatchObject({
      active: true,
      sub: user?.id,
      client_id: WEB.id,
    });
  });

  it("revoking the refresh token ends its session: both tokens are inactive and refused", async () => {
    const { tokens } = await codeFlow({ scope: "openid" });
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(as, WEB_CLIENT, NONE, tokens.refresh_token ?? "", through()),
    );
    expect(await introspect(tokens.access_token)).toEqual({ active: false });
    expect(await introspect(tokens.refresh_token ?? "")).toEqual({ active: false });
    expect((await me(tokens.access_token)).status).toBe(401);
  });

  it("revoking the access token ends its session too", async () => {
    const { tokens } = await codeFlow({ scope: "openid" });
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(as, WEB_CLIENT, NONE, tokens.access_token, through()),
    );
    expect((await me(tokens.access_token)).status).toBe(401);
    const refused = await oauth.refreshTokenGrantRequest(as, WEB_CLIENT, NONE, tokens.refresh_token ?? "", through());
    await expectOAuthError(refused, 400, "invalid_grant");
  });

  it("an unknown or malformed token is revoked with 200 and introspected as inactive", async () => {
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(as, WEB_CLIENT, NONE, "no-such-token", through()),
    );
    const unknownRefresh = `${crypto.randomUUID()}.${crypto.randomUUID()}.${"a".repeat(43)}`;
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(as, WEB_CLIENT, NONE, unknownRefresh, through()),
    );
    expect(await introspect("no-such-token")).toEqual({ active: false });
    expect(await introspect(unknownRefresh)).toEqual({ active: false });
  });

  it("a rotated-away refresh token and an ended session's access token are inactive", async () => {
    const { tokens } = await codeFlow({ scope: "openid" });
    await oauth.processRefreshTokenResponse(
      as,
      WEB_CLIENT,
      await oauth.refreshTokenGrantRequest(as, WEB_CLIENT, NONE, tokens.refresh_token ?? "", through()),
    );
    expect(await introspect(tokens.refresh_token ?? "")).toEqual({ active: false });
    await api("/auth/logout", { method: "POST", headers: bearer(tokens.access_token) });
    expect(await introspect(tokens.access_token)).toEqual({ active: false });
  });
});

describe("security: PKCE downgrade", () => {
  it("a request without code_challenge is sent back invalid_request, with state and iss", async () => {
    const { user } = await register();
    const request = await pkceRequest({ challenge: undefined, method: undefined });
    const res = await new Browser().fetch(`/auth/authorize?${request.params}`);
    const location = redirectOf(res);
    expect(location.searchParams.get("error")).toBe("invalid_request");
    expect(location.searchParams.get("state")).toBe(request.state);
    expect(location.searchParams.get("iss")).toBe(testEnv.JWT_ISSUER);
    expect(() => oauth.validateAuthResponse(as, WEB_CLIENT, location, request.state)).toThrow(
      oauth.AuthorizationResponseError,
    );
    expect(user.id).toBeTruthy();
  });

  it("code_challenge_method=plain is refused", async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const request = await pkceRequest({ verifier, challenge: verifier, method: "plain" });
    const location = redirectOf(await new Browser().fetch(`/auth/authorize?${request.params}`));
    expect(location.searchParams.get("error")).toBe("invalid_request");
    expect(location.searchParams.get("error_description")).toContain("S256");
  });

  it("a wrong code_verifier is invalid_grant, and the code is spent", async () => {
    const request = await pkceRequest();
    const callback = await signedInCallback(request);
    const wrong = oauth.generateRandomCodeVerifier();
    await expectOAuthError(await exchangeCode(as, callback, request, { verifier: wrong }), 400, "invalid_grant");
    await expectOAuthError(await exchangeCode(as, callback, request), 400, "invalid_grant");
  });
});

describe("security: redirect URIs and clients", () => {
  it("an unregistered redirect URI is a 400 problem, never a redirect", async () => {
    for (const redirectUri of [
      "https://evil.example/callback",
      `${WEB_REDIRECT}/more`,
      `${WEB_REDIRECT}?x=1`,
      "http://127.0.0.1:8080/oauth/callback", // loopback at any port is for native clients only
    ]) {
      const request = await pkceRequest({ redirectUri });
      const res = await new Browser().fetch(`/auth/authorize?${request.params}`);
      const body = await expectProblem(res, 400);
      expect(res.headers.get("location")).toBeNull();
      expect(body.errors?.[0]?.pointer).toBe("/redirect_uri");
    }
  });

  it("a native client's loopback URI with another path does not match", async () => {
    const request = await pkceRequest({ clientId: MOBILE.id, redirectUri: "http://127.0.0.1:5000/other" });
    const res = await new Browser().fetch(`/auth/authorize?${request.params}`);
    await expectProblem(res, 400);
    expect(res.headers.get("location")).toBeNull();
  });

  it("an unknown client is a 400 problem, never a redirect", async () => {
    const request = await pkceRequest({ clientId: "stranger" });
    const res = await new Browser().fetch(`/auth/authorize?${request.params}`);
    expect((await expectProblem(res, 400)).errors?.[0]?.pointer).toBe("/client_id");
    expect(res.headers.get("location")).toBeNull();
  });

  it("a redirect URI that differs at the token endpoint is invalid_grant", async () => {
    const request = await pkceRequest();
    const callback = await signedInCallback(request);
    const refused = await exchangeCode(as, callback, request, { redirectUri: "https://evil.example/callback" });
    await expectOAuthError(refused, 400, "invalid_grant");
  });

  it("a code issued to one client cannot be redeemed by another", async () => {
    const request = await pkceRequest();
    const callback = await signedInCallback(request);
    await expectOAuthError(await exchangeCode(as, callback, request, { client: MOBILE_CLIENT }), 400, "invalid_grant");
  });

  it("the password grant is refused to any client but the first-party one", async () => {
    const { user } = await register();
    const res = await oauth.genericTokenEndpointRequest(
      as,
      MOBILE_CLIENT,
      NONE,
      "password",
      { username: user.username, password: PASSWORD },
      through(),
    );
    await expectOAuthError(res, 400, "unauthorized_client");
  });

  it("a refresh token is refused to another client (invalid_grant), and still works for its own", async () => {
    const { tokens } = await codeFlow({ scope: "openid" });
    const stolen = await oauth.refreshTokenGrantRequest(as, MOBILE_CLIENT, NONE, tokens.refresh_token ?? "", through());
    await expectOAuthError(stolen, 400, "invalid_grant");
    const own = await oauth.refreshTokenGrantRequest(as, WEB_CLIENT, NONE, tokens.refresh_token ?? "", through());
    expect(own.status).toBe(200);
  });

  it("introspection refuses public clients and wrong secrets (invalid_client)", async () => {
    const { tokens } = await codeFlow({ scope: "openid" });
    const publicClient = await oauth.introspectionRequest(as, WEB_CLIENT, NONE, tokens.access_token, through());
    await expectOAuthError(publicClient, 401, "invalid_client");
    const wrong = oauth.ClientSecretBasic("not-the-secret-not-the-secret-not-the-secret");
    const wrongSecret = await oauth.introspectionRequest(as, RS_CLIENT, wrong, tokens.access_token, through());
    await expectOAuthError(wrongSecret, 401, "invalid_client");
  });

  it("a client cannot revoke another client's token (answered 200, nothing revoked)", async () => {
    const { tokens } = await codeFlow({ scope: "openid read write" });
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(as, MOBILE_CLIENT, NONE, tokens.access_token, through()),
    );
    expect((await me(tokens.access_token)).status).toBe(200);
  });
});

describe("security: expired code", () => {
  it("a code past its 60 s is invalid_grant", async () => {
    const request = await pkceRequest();
    const callback = await signedInCallback(request);
    const userId = (callback.get("code") ?? "").split(".")[0] ?? "";
    const stub = testEnv.SESSIONS.get(testEnv.SESSIONS.idFromName(userId));
    await runInDurableObject(stub, (_instance: Sessions, state) => {
      state.storage.sql.exec("update authorization_codes set expires_at = ?", Date.now() - 1);
    });
    await expectOAuthError(await exchangeCode(as, callback, request), 400, "invalid_grant");
  });
});

describe("security: code replay", () => {
  it("a code redeemed twice is refused, and the tokens of the first redemption are revoked", async () => {
    const { user } = await register();
    const request = await pkceRequest({ scope: "openid profile email read write" });
    const callback = await authorizeThrough(as, new Browser(), request, {
      username: user.username,
      password: PASSWORD,
    });
    const tokens = await tokensOf(as, request, await exchangeCode(as, callback, request));
    expect((await me(tokens.access_token)).status).toBe(200);
    await expectOAuthError(await exchangeCode(as, callback, request), 400, "invalid_grant");
    expect((await me(tokens.access_token)).status).toBe(401);
    const refresh = await oauth.refreshTokenGrantRequest(as, WEB_CLIENT, NONE, tokens.refresh_token ?? "", through());
    await expectOAuthError(refresh, 400, "invalid_grant");
    const events = await asSystem((tx) => tx.select().from(auditEvents).where(eq(auditEvents.targetUserId, user.id)));
    // Registration's own event aside.
    expect(events.map((event) => `${event.action} ${event.outcome}`).sort()).toEqual([
      "oauth.code_replayed failure",
      "user.login_succeeded success",
      "user.registered success",
    ]);
  });
  it("a code spent by a wrong verifier stays refused with the right one, and is no replay", async () => {
    const { user } = await register();
    const request = await pkceRequest({ scope: "openid read" });
    const callback = await authorizeThrough(as, new Browser(), request, {
      username: user.username,
      password: PASSWORD,
    });
    const wrong = oauth.generateRandomCodeVerifier();
    await expectOAuthError(await exchangeCode(as, callback, request, { verifier: wrong }), 400, "invalid_grant");
    const again = await expectOAuthError(await exchangeCode(as, callback, request), 400, "invalid_grant");
    expect(again.error_description).not.toMatch(/already used/);
    const events = await asSystem((tx) => tx.select().from(auditEvents).where(eq(auditEvents.targetUserId, user.id)));
    expect(events.map((event) => event.action)).not.toContain("oauth.code_replayed");
  });
});

describe("the sign-in page", () => {
  it("is HTML under a strict CSP, not cached, escaping what the request carries", async () => {
    const request = await pkceRequest({ state: `"><script>alert(1)</script>` });
    const res = await new Browser().fetch(`/auth/authorize?${request.params}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    const html = await res.text();
    expect(html).not.toContain("<script>");
    expect(hiddenFields(html).state).toBe(request.state);
  });

  it("a wrong password shows the page again, redirecting nowhere", async () => {
    const { user } = await register();
    const request = await pkceRequest();
    const res = await signInThrough(new Browser(), request.params, { username: user.username, password: "wrong" });
    expect(res.status).toBe(200);
    expect(res.headers.get("location")).toBeNull();
    expect(await res.text()).toContain("Invalid username or password.");
  });

  it("a post without the CSRF cookie, or from another origin, is refused (403)", async () => {
    const { user } = await register();
    const request = await pkceRequest();
    const browser = new Browser();
    const fields = hiddenFields(await (await browser.fetch(`/auth/authorize?${request.params}`)).text());
    const credentials = { ...fields, username: user.username, password: PASSWORD };
    await expectProblem(await browser.post("/auth/authorize", credentials, "https://evil.example"), 403);
    browser.forgetCookies();
    await expectProblem(await browser.post("/auth/authorize", credentials), 403);
  });

  it("cancelling sends access_denied back to the client", async () => {
    const request = await pkceRequest();
    const browser = new Browser();
    const fields = hiddenFields(await (await browser.fetch(`/auth/authorize?${request.params}`)).text());
    const location = redirectOf(await browser.post("/auth/authorize", { ...fields, decision: "deny" }));
    expect(location.searchParams.get("error")).toBe("access_denied");
    expect(location.searchParams.get("state")).toBe(request.state);
    expect(location.searchParams.get("iss")).toBe(ISSUER.href.replace(/\/$/, ""));
  });
});
