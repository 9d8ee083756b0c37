import { runInDurableObject } from "cloudflare:test";
import * as oauth from "oauth4webapi";
import { beforeAll, describe, expect, it } from "vitest";
import { stepAt, totpCode } from "../../src/auth/totp.ts";
import type { Sessions } from "../../src/durable-objects/sessions.ts";
import { json } from "../account-helpers.ts";
import { bearer, PASSWORD, promote, register, type UserJson } from "../auth-helpers.ts";
import { api, expectProblem, testEnv } from "../helpers.ts";
import {
  authorizeThrough,
  Browser,
  CLI,
  discover,
  exchangeCode,
  hiddenFields,
  MOBILE,
  pkceRequest,
  redirectOf,
  SSO_COOKIE,
  signInOnDevicePage,
  through,
  tokensOf,
} from "../oauth-helpers.ts";

// Single sign-on at the authorization endpoint (OpenID Connect Core §3.1.2.3), `prompt` and
// `max_age` (§3.1.2.1), `response_mode`: a browser that signed in once is answered without the form
// until its single sign-on session ends, which the user's other ways out end too.

let as: oauth.AuthorizationServer;

beforeAll(async () => {
  as = await discover();
});

/** A fresh user signed in on the authorization page in a fresh browser: both, and the ID token's claims. */
async function signedInBrowser() {
  const { user } = await register();
  const browser = new Browser();
  const request = await pkceRequest();
  const callback = await authorizeThrough(as, browser, request, { username: user.username, password: PASSWORD });
  const tokens = await tokensOf(as, request, await exchangeCode(as, callback, request));
  return { user, browser, tokens, claims: oauth.getValidatedIdTokenClaims(tokens) };
}

/** An authorization request from `browser` with `extra` parameters: the answer, unfollowed. */
async function authorize(browser: Browser, extra: Record<string, string> = {}, overrides = {}) {
  const request = await pkceRequest(overrides);
  for (const [name, value] of Object.entries(extra)) request.params.set(name, value);
  return { request, res: await browser.fetch(`/auth/authorize?${request.params}`) };
}

/** The answer is the sign-in page. */
async function expectForm(res: Response) {
  expect(res.status).toBe(200);
  expect(await res.text()).toContain('name="password"');
}

/** The answer is an error at the redirect URI (in the query), with state and iss: the error code. */
function redirectedError(res: Response, request: { state?: string | undefined }): string | null {
  const location = redirectOf(res);
  expect(location.hash).toBe("");
  expect(location.searchParams.get("state")).toBe(request.state);
  expect(location.searchParams.get("iss")).toBe(testEnv.JWT_ISSUER);
  expect(location.searchParams.get("code")).toBeNull();
  return location.searchParams.get("error");
}

/** Moves the user's single sign-on sessions' sign-in `seconds` into the past. */
async function ageSignIn(userId: string, seconds: number) {
  await runInDurableObject(testEnv.SESSIONS.get(testEnv.SESSIONS.idFromName(userId)), (_: Sessions, state) => {
    state.storage.sql.exec("update sso_sessions set auth_time = auth_time - ?", seconds);
  });
}

/** The user's single sign-on sessions as stored. */
async function ssoRows(userId: string) {
  return runInDurableObject(testEnv.SESSIONS.get(testEnv.SESSIONS.idFromName(userId)), (_: Sessions, state) =>
    state.storage.sql
      .exec<{ id: string; created_at: number; expires_at: number; idle_timeout_ms: number }>(
        "select id, created_at, expires_at, idle_timeout_ms from sso_sessions",
      )
      .toArray(),
  );
}

/** A password login (the first-party client's password grant): another session of the user's. */
async function passwordSession(user: UserJson) {
  const res = await oauth.genericTokenEndpointRequest(
    as,
    { client_id: "techcorp-first-party" },
    oauth.None(),
    "password",
    { username: user.username, password: PASSWORD },
    through(),
  );
  const tokens = await oauth.processGenericTokenEndpointResponse(as, { client_id: "techcorp-first-party" }, res);
  return bearer(tokens.access_token);
}

describe("single sign-on at the authorization endpoint", () => {
  it("a sign-in sets a host-only, HttpOnly, Secure, SameSite=Lax cookie living as long as a session", async () => {
    const { user } = await register();
    const request = await pkceRequest();
    const browser = new Browser();
    const page = await browser.fetch(`/auth/authorize?${request.params}`);
    const res = await browser.post("/auth/authorize", {
      ...hiddenFields(await page.text()),
      username: user.username,
      password: PASSWORD,
      decision: "approve",
    });
    expect(res.status).toBe(303);
    const cookie = res.headers.getSetCookie().find((header) => header.startsWith(`${SSO_COOKIE}=`)) ?? "";
    expect(cookie).toMatch(/; Path=\/(;|$)/);
    expect(cookie).toMatch(/; HttpOnly(;|$)/);
    expect(cookie).toMatch(/; Secure(;|$)/);
    expect(cookie).toMatch(/; SameSite=Lax(;|$)/);
    expect(cookie).not.toMatch(/; Domain=/i);
    const maxAge = Number(/; Max-Age=(\d+)/.exec(cookie)?.[1]);
    expect(maxAge).toBeGreaterThan(Number(testEnv.SESSION_MAX_AGE_SECONDS) - 60);
    expect(maxAge).toBeLessThanOrEqual(Number(testEnv.SESSION_MAX_AGE_SECONDS));
    const [row] = await ssoRows(user.id);
    expect(row?.idle_timeout_ms).toBe(Number(testEnv.SESSION_IDLE_TIMEOUT_SECONDS) * 1000);
  });

  it("a second authorization from that browser gets its code without the form, with the first sign-in's auth_time", async () => {
    const { user, browser, claims } = await signedInBrowser();
    // Another client, in the same browser: no form.
    const request = await pkceRequest({ clientId: MOBILE.id, redirectUri: "com.techcorp.app:/oauth/callback" });
    const res = await browser.fetch(`/auth/authorize?${request.params}`);
    expect(res.status).toBe(302);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const callback = oauth.validateAuthResponse(as, { client_id: MOBILE.id }, redirectOf(res), request.state);
    const tokens = await tokensOf(as, request, await exchangeCode(as, callback, request));
    expect(oauth.getValidatedIdTokenClaims(tokens)).toMatchObject({
      sub: user.id,
      aud: MOBILE.id,
      nonce: request.nonce,
      auth_time: claims?.auth_time,
      amr: ["pwd"],
    });
    expect(tokens.scope).toBe("openid profile email");
    // Another browser is asked to sign in.
    await expectForm((await authorize(new Browser())).res);
  });

  it("a forged, unknown or malformed cookie shows the form", async () => {
    const { user } = await register();
    for (const value of [
      `${user.id}.${crypto.randomUUID()}.${"A".repeat(43)}`,
      `${crypto.randomUUID()}.${crypto.randomUUID()}.${"A".repeat(43)}`,
      "not-a-cookie",
    ]) {
      const browser = new Browser();
      browser.setCookie(SSO_COOKIE, value);
      await expectForm((await authorize(browser)).res);
    }
  });

  it("the same browser signing in again replaces its single sign-on session", async () => {
    const { user, browser } = await signedInBrowser();
    const [first] = await ssoRows(user.id);
    const { res } = await authorize(browser, { prompt: "login" });
    const again = await browser.post("/auth/authorize", {
      ...hiddenFields(await res.text()),
      username: user.username,
      password: PASSWORD,
      decision: "approve",
    });
    expect(again.status).toBe(303);
    const rows = await ssoRows(user.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.id).not.toBe(first?.id);
  });

  it("a staff account's single sign-on session has the staff lifetimes", async () => {
    const { user } = await register();
    const mfaSecret = (await promote(user.id, { permissions: ["users:read"] })) ?? "";
    const request = await pkceRequest();
    const browser = new Browser();
    const otp = () => totpCode(mfaSecret, stepAt(Date.now()));
    await authorizeThrough(as, browser, request, { username: user.username, password: PASSWORD, otp });
    const [row] = await ssoRows(user.id);
    expect((row?.expires_at ?? 0) - (row?.created_at ?? 0)).toBe(Number(testEnv.STAFF_SESSION_MAX_AGE_SECONDS) * 1000);
    expect(row?.idle_timeout_ms).toBe(Number(testEnv.STAFF_SESSION_IDLE_TIMEOUT_SECONDS) * 1000);
  });

  it("security: a session issued under a sign-in an hour old is not a recent sign-in (RFC 9470)", async () => {
    const { user, browser } = await signedInBrowser();
    await ageSignIn(user.id, 3600);
    // `write`: what deleting the account needs of an OAuth session, so the refusal is the sign-in's age.
    const { request, res } = await authorize(browser, {}, { scope: "openid read write" });
    const callback = oauth.validateAuthResponse(
      as,
      { client_id: request.clientId ?? "" },
      redirectOf(res),
      request.state,
    );
    const tokens = await tokensOf(as, request, await exchangeCode(as, callback, request));
    const refused = await api("/users/me", { method: "DELETE", headers: bearer(tokens.access_token) });
    expect((await expectProblem(refused, 401)).type).toBe("/problems/insufficient_user_authentication");
  });
});

describe("prompt and max_age (OpenID Connect Core §3.1.2.1)", () => {
  it("prompt=none: the code from a live sign-on; login_required without one", async () => {
    const { browser } = await signedInBrowser();
    const signedIn = await authorize(browser, { prompt: "none" });
    expect(redirectOf(signedIn.res).searchParams.get("code")).toBeTruthy();
    const stranger = await authorize(new Browser(), { prompt: "none" });
    expect(redirectedError(stranger.res, stranger.request)).toBe("login_required");
  });

  it("prompt=login shows the form despite a live sign-on, and the new sign-in has a fresh auth_time", async () => {
    const { user, browser } = await signedInBrowser();
    await ageSignIn(user.id, 3600);
    const { request, res } = await authorize(browser, { prompt: "login" });
    expect(res.status).toBe(200);
    const page = await browser.post("/auth/authorize", {
      ...hiddenFields(await res.text()),
      username: user.username,
      password: PASSWORD,
      decision: "approve",
    });
    const callback = oauth.validateAuthResponse(
      as,
      { client_id: request.clientId ?? "" },
      redirectOf(page),
      request.state,
    );
    const tokens = await tokensOf(as, request, await exchangeCode(as, callback, request));
    const authTime = oauth.getValidatedIdTokenClaims(tokens)?.auth_time ?? 0;
    expect(Math.floor(Date.now() / 1000) - authTime).toBeLessThan(60);
  });

  it("max_age=0 always shows the form; prompt=none with it is login_required", async () => {
    const { browser } = await signedInBrowser();
    await expectForm((await authorize(browser, { max_age: "0" })).res);
    const none = await authorize(browser, { max_age: "0", prompt: "none" });
    expect(redirectedError(none.res, none.request)).toBe("login_required");
  });

  it("max_age: a sign-in older than it shows the form; a recent one does not, and auth_time is in the ID token", async () => {
    const { user, browser } = await signedInBrowser();
    await ageSignIn(user.id, 600);
    await expectForm((await authorize(browser, { max_age: "300" })).res);
    const { request, res } = await authorize(browser, { max_age: "3600" });
    const callback = oauth.validateAuthResponse(
      as,
      { client_id: request.clientId ?? "" },
      redirectOf(res),
      request.state,
    );
    const exchange = await exchangeCode(as, callback, request);
    // oauth4webapi checks auth_time against max_age itself.
    const tokens = await oauth.processAuthorizationCodeResponse(as, { client_id: request.clientId ?? "" }, exchange, {
      expectedNonce: request.nonce ?? oauth.expectNoNonce,
      maxAge: 3600,
    });
    expect(oauth.getValidatedIdTokenClaims(tokens)?.auth_time).toEqual(expect.any(Number));
  });

  it("prompt values that cannot be served are answered with their OpenID Connect errors", async () => {
    const { browser } = await signedInBrowser();
    for (const [prompt, error] of [
      ["consent", "consent_required"],
      ["select_account", "account_selection_required"],
      ["none login", "invalid_request"],
      ["sometimes", "invalid_request"],
    ]) {
      const { request, res } = await authorize(browser, { prompt: prompt ?? "" });
      expect(redirectedError(res, request)).toBe(error);
    }
  });

  it("a max_age that is not a whole number of seconds is invalid_request", async () => {
    for (const maxAge of ["-1", "1.5", "soon"]) {
      const { request, res } = await authorize(new Browser(), { max_age: maxAge });
      expect(redirectedError(res, request)).toBe("invalid_request");
    }
  });

  it("response_mode=fragment (or form_post) is invalid_request, answered in the query", async () => {
    for (const mode of ["fragment", "form_post"]) {
      const { request, res } = await authorize(new Browser(), { response_mode: mode });
      expect(redirectedError(res, request)).toBe("invalid_request");
      expect(redirectOf(res).searchParams.get("error_description")).toContain("response_mode=query");
    }
    const { res } = await authorize(new Browser(), { response_mode: "query" });
    expect(res.status).toBe(200);
  });
});

describe("what ends a single sign-on session", () => {
  it("logging out of a session issued under it (and the next authorization asks again)", async () => {
    const { browser, tokens } = await signedInBrowser();
    expect((await api("/auth/logout", { method: "POST", headers: bearer(tokens.access_token) })).status).toBe(204);
    const { request, res } = await authorize(browser, { prompt: "none" });
    expect(redirectedError(res, request)).toBe("login_required");
    await expectForm((await authorize(browser)).res);
  });

  it("logging out of a session single sign-on issued ends it too", async () => {
    const { browser } = await signedInBrowser();
    const { request, res } = await authorize(browser);
    const callback = oauth.validateAuthResponse(
      as,
      { client_id: request.clientId ?? "" },
      redirectOf(res),
      request.state,
    );
    const tokens = await tokensOf(as, request, await exchangeCode(as, callback, request));
    await api("/auth/logout", { method: "POST", headers: bearer(tokens.access_token) });
    const none = await authorize(browser, { prompt: "none" });
    expect(redirectedError(none.res, none.request)).toBe("login_required");
  });

  it("a password change", async () => {
    const { user, browser } = await signedInBrowser();
    const auth = await passwordSession(user);
    const change = { currentPassword: PASSWORD, newPassword: "a much longer passphrase 2026" };
    expect((await api("/users/me/password", json("POST", auth, change))).status).toBe(204);
    const { request, res } = await authorize(browser, { prompt: "none" });
    expect(redirectedError(res, request)).toBe("login_required");
  });

  it("signing out everywhere", async () => {
    const { user, browser } = await signedInBrowser();
    const auth = await passwordSession(user);
    expect((await api("/auth/sessions", { method: "DELETE", headers: auth })).status).toBe(204);
    const { request, res } = await authorize(browser, { prompt: "none" });
    expect(redirectedError(res, request)).toBe("login_required");
  });

  it("its expiry", async () => {
    const { user, browser } = await signedInBrowser();
    await runInDurableObject(testEnv.SESSIONS.get(testEnv.SESSIONS.idFromName(user.id)), (_: Sessions, state) => {
      state.storage.sql.exec("update sso_sessions set expires_at = ?", Date.now() - 1);
    });
    const { request, res } = await authorize(browser, { prompt: "none" });
    expect(redirectedError(res, request)).toBe("login_required");
    expect(await ssoRows(user.id)).toEqual([]);
  });
});

describe("single sign-on on the device verification page", () => {
  async function startDevice() {
    const client: oauth.Client = { client_id: CLI.id };
    const started = await oauth.deviceAuthorizationRequest(as, client, oauth.None(), { scope: "openid" }, through());
    return oauth.processDeviceAuthorizationResponse(as, client, started);
  }

  it("signed in on the authorization page, the device page asks only for the code; the consent stays", async () => {
    const { user, browser, claims } = await signedInBrowser();
    const device = await startDevice();
    const page = await (await browser.fetch("/auth/device")).text();
    expect(page).toContain("You are signed in");
    const consent = await signInOnDevicePage(browser, device.user_code, null);
    const html = await consent.text();
    expect(html).toContain("Allow access?");
    const approved = await browser.post("/auth/device", { ...hiddenFields(html), decision: "approve" });
    expect(await approved.text()).toContain("Device approved");
    const tokens = await oauth.processDeviceCodeResponse(
      as,
      { client_id: CLI.id },
      await oauth.deviceCodeGrantRequest(as, { client_id: CLI.id }, oauth.None(), device.device_code, through()),
    );
    expect(oauth.getValidatedIdTokenClaims(tokens)).toMatchObject({ sub: user.id, auth_time: claims?.auth_time });
  });

  it("a password sign-in there sets the cookie, and the authorization endpoint then answers without the form", async () => {
    const { user } = await register();
    const device = await startDevice();
    const browser = new Browser();
    const consent = await signInOnDevicePage(browser, device.user_code, {
      username: user.username,
      password: PASSWORD,
    });
    // Nothing is granted, nor single sign-on started, before the consent.
    expect(browser.cookie(SSO_COOKIE)).toBeUndefined();
    await browser.post("/auth/device", { ...hiddenFields(await consent.text()), decision: "approve" });
    expect(browser.cookie(SSO_COOKIE)).toBeTruthy();
    const { res } = await authorize(browser);
    expect(redirectOf(res).searchParams.get("code")).toBeTruthy();
  });

  it("an ended single sign-on session asks for the password again, and the stale cookie is dropped", async () => {
    const { browser, tokens } = await signedInBrowser();
    await api("/auth/logout", { method: "POST", headers: bearer(tokens.access_token) });
    const device = await startDevice();
    const res = await signInOnDevicePage(browser, device.user_code, null);
    const html = await res.text();
    expect(html).toContain("Your sign-in has ended");
    expect(html).toContain('name="password"');
    expect(browser.cookie(SSO_COOKIE)).toBeUndefined();
  });
});
