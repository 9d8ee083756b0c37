import { runInDurableObject } from "cloudflare:test";
import { decodeJwt } from "jose";
import * as oauth from "oauth4webapi";
import { beforeAll, describe, expect, it } from "vitest";
import { stepAt, totpCode } from "../../src/auth/totp.ts";
import type { DeviceAuthorization } from "../../src/durable-objects/device-authorization.ts";
import { enrolThroughApi } from "../account-helpers.ts";
import { expectOAuthError, me, PASSWORD, promote, register, signedIn } from "../auth-helpers.ts";
import { testEnv } from "../helpers.ts";
import { Browser, CLI, discover, hiddenFields, signInOnDevicePage, through, WEB } from "../oauth-helpers.ts";

// The device authorization grant (RFC 8628) for the CLI, as oauth4webapi drives it, and its
// verification page as a browser does.

const CLI_CLIENT: oauth.Client = { client_id: CLI.id };
const NONE = oauth.None();

let as: oauth.AuthorizationServer;

beforeAll(async () => {
  as = await discover();
});

async function startDevice(scope = "openid profile") {
  const options = through();
  const response = await oauth.processDeviceAuthorizationResponse(
    as,
    CLI_CLIENT,
    await oauth.deviceAuthorizationRequest(as, CLI_CLIENT, NONE, { scope }, options),
  );
  const poll = () => oauth.deviceCodeGrantRequest(as, CLI_CLIENT, NONE, response.device_code, options);
  return { response, poll };
}

/**
 * The consent page after the sign-in (RFC 8628 §5.4), answered with `decision`; any other page
 * (the form again, a message) is returned as it came.
 */
async function consentTo(browser: Browser, signedIn: Response, decision: "approve" | "deny" = "approve") {
  const html = await signedIn.text();
  if (!html.includes('name="consent"')) return new Response(html, { status: signedIn.status });
  expect(html).toContain("Allow access?");
  return browser.post("/auth/device", { ...hiddenFields(html), decision });
}

/** The verification page, filled in: `decision` approve (with the password, then consent) or deny. */
async function verify(userCode: string, decision: "approve" | "deny", username?: string, mfaSecret?: string) {
  const browser = new Browser();
  const credentials = username ? { username, password: PASSWORD } : null;
  const answer = await signInOnDevicePage(browser, userCode, credentials, decision);
  if (!username) return answer;
  if (!mfaSecret) return consentTo(browser, answer, decision);
  // A staff account has MFA on (required): the page asks for its code.
  const second = await answer.text();
  expect(second).toContain('name="otp"');
  const signedIn = await browser.post("/auth/device", {
    ...hiddenFields(second),
    otp: await totpCode(mfaSecret, stepAt(Date.now())),
    decision: "approve",
  });
  return consentTo(browser, signedIn, decision);
}

const deviceObject = (userCode: string) =>
  testEnv.DEVICE_AUTHORIZATIONS.get(testEnv.DEVICE_AUTHORIZATIONS.idFromName(userCode.replace("-", "")));

/** Whether the request behind a user code still waits for the user's decision. */
const stillPending = async (userCode: string) => (await deviceObject(userCode).pending()) !== null;

/** The OAuth error oauth4webapi reads from a poll. */
async function pollError(res: Response): Promise<oauth.ResponseBodyError> {
  const outcome = await oauth.processDeviceCodeResponse(as, CLI_CLIENT, res).then(
    () => new Error("expected an error"),
    (error: unknown) => error,
  );
  if (!(outcome instanceof oauth.ResponseBodyError)) throw outcome;
  return outcome;
}

describe("device authorization (happy path)", () => {
  it("is discovered, answers codes, and the approved device gets tokens for the CLI", async () => {
    expect(as.device_authorization_endpoint).toBe(`${testEnv.PUBLIC_URL}/auth/device_authorization`);
    const { user } = await register();
    const mfaSecret = await promote(user.id, { permissions: ["users:read"] });
    const { response, poll } = await startDevice("openid profile read write users:read users:manage");
    expect(response).toMatchObject({
      user_code: expect.stringMatching(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/),
      verification_uri: `${testEnv.PUBLIC_URL}/auth/device`,
      expires_in: 600,
      interval: 5,
    });
    expect(response.verification_uri_complete).toBe(
      `${testEnv.PUBLIC_URL}/auth/device?user_code=${response.user_code}`,
    );
    // The page that address opens has the code filled in.
    const prefilled = await (await new Browser().fetch(`/auth/device?user_code=${response.user_code}`)).text();
    expect(prefilled).toContain(`value="${response.user_code}"`);
    expect((await pollError(await poll())).error).toBe("authorization_pending");

    const approved = await verify(response.user_code, "approve", user.username, mfaSecret);
    expect(approved.status).toBe(200);
    expect(await approved.text()).toContain("Device approved");

    const tokens = await oauth.processDeviceCodeResponse(as, CLI_CLIENT, await poll());
    expect(tokens.scope).toBe("openid profile read write users:read");
    expect(decodeJwt(tokens.access_token)).toMatchObject({ sub: user.id, client_id: CLI.id });
    expect(oauth.getValidatedIdTokenClaims(tokens)).toMatchObject({ sub: user.id, aud: CLI.id });
    expect((await me(tokens.access_token)).status).toBe(200);
    // The CLI refreshes its own session, and gets a new ID token for the same sign-in (OpenID Connect Core §12.2).
    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      CLI_CLIENT,
      await oauth.refreshTokenGrantRequest(as, CLI_CLIENT, NONE, tokens.refresh_token ?? "", through()),
    );
    const original = oauth.getValidatedIdTokenClaims(tokens);
    expect(oauth.getValidatedIdTokenClaims(refreshed)).toMatchObject({
      sub: user.id,
      aud: CLI.id,
      auth_time: original?.auth_time,
      amr: ["pwd", "otp", "mfa"],
    });
  });

  it("a user code is accepted in any case and with any separator", async () => {
    const { user } = await register();
    const { response, poll } = await startDevice();
    const typed = response.user_code.toLowerCase().replace("-", " ");
    const browser = new Browser();
    const signedIn = await signInOnDevicePage(browser, typed, { username: user.email, password: PASSWORD });
    const res = await consentTo(browser, signedIn);
    expect(res.status).toBe(200);
    expect((await oauth.processDeviceCodeResponse(as, CLI_CLIENT, await poll())).access_token).toBeTruthy();
  });
});

describe("device authorization with MFA", () => {
  it("asks an account with MFA on for its code before approving", async () => {
    const { user, auth } = await signedIn();
    const setup = await enrolThroughApi(auth);
    // The next step's code: the confirmation used this one's.
    const step = stepAt(Date.now());
    const { response, poll } = await startDevice();
    const browser = new Browser();
    const credentials = { username: user.username, password: PASSWORD };
    const second = await signInOnDevicePage(browser, response.user_code, credentials);
    const html = await second.text();
    expect(html).toContain('name="otp"');
    expect((await pollError(await poll())).error).toBe("authorization_pending");
    const signedInWithCode = await browser.post("/auth/device", {
      ...hiddenFields(html),
      otp: await totpCode(setup.secret, step + 1),
      decision: "approve",
    });
    const approved = await consentTo(browser, signedInWithCode);
    expect(await approved.text()).toContain("Device approved");
    const tokens = await oauth.processDeviceCodeResponse(as, CLI_CLIENT, await poll());
    expect(decodeJwt(tokens.access_token).sub).toBe(user.id);
    // The ID token says how the user signed in: password and one-time code, not the password alone.
    expect(oauth.getValidatedIdTokenClaims(tokens)?.amr).toEqual(["pwd", "otp", "mfa"]);
  });
});

describe("device authorization: errors and security", () => {
  it("polling faster than the interval is slow_down, the interval growing by 5 s each time (RFC 8628 §3.5)", async () => {
    const { poll } = await startDevice();
    expect((await pollError(await poll())).error).toBe("authorization_pending");
    const first = await pollError(await poll());
    expect(first.error).toBe("slow_down");
    expect(first.cause.interval).toBe(10);
    expect((await pollError(await poll())).cause.interval).toBe(15);
  });

  it("an expired device code is expired_token", async () => {
    const { response, poll } = await startDevice();
    const userCode = response.user_code.replace("-", "");
    const stub = testEnv.DEVICE_AUTHORIZATIONS.get(testEnv.DEVICE_AUTHORIZATIONS.idFromName(userCode));
    await runInDurableObject(stub, (_instance: DeviceAuthorization, state) => {
      state.storage.sql.exec("update device set expires_at = ?", Date.now() - 1);
    });
    expect((await pollError(await poll())).error).toBe("expired_token");
    // Nor can it be approved any more.
    const { user } = await register();
    const page = await verify(response.user_code, "approve", user.username);
    expect(await page.text()).toContain("unknown or has expired");
  });

  it("a denied device is access_denied", async () => {
    const { response, poll } = await startDevice();
    const denied = await verify(response.user_code, "deny");
    expect(await denied.text()).toContain("Device denied");
    expect((await pollError(await poll())).error).toBe("access_denied");
  });

  it("a device code is exchanged once; then, and for another client, it is invalid_grant", async () => {
    const { user } = await register();
    const { response, poll } = await startDevice();
    await verify(response.user_code, "approve", user.username);
    const stolen = await oauth.deviceCodeGrantRequest(as, { client_id: WEB.id }, NONE, response.device_code, through());
    await expectOAuthError(stolen, 400, "unauthorized_client");
    expect((await oauth.processDeviceCodeResponse(as, CLI_CLIENT, await poll())).access_token).toBeTruthy();
    await expectOAuthError(await poll(), 400, "invalid_grant");
  });

  it("a wrong password or an unknown code shows the form again and approves nothing", async () => {
    const { user } = await register();
    const { response, poll } = await startDevice();
    const browser = new Browser();
    const wrong = await signInOnDevicePage(browser, response.user_code, { username: user.username, password: "wrong" });
    expect(await wrong.text()).toContain("Invalid username or password.");
    const credentials = { username: user.username, password: PASSWORD };
    const unknown = await signInOnDevicePage(browser, "BBBB-BBBB", credentials);
    expect(await unknown.text()).toContain("unknown or has expired");
    expect((await pollError(await poll())).error).toBe("authorization_pending");
  });

  it("after the sign-in, the consent page names the client and each scope; nothing is granted before Approve, and Deny refuses (RFC 8628 §5.4)", async () => {
    const { user } = await register();
    const { response, poll } = await startDevice("openid email");
    const browser = new Browser();
    const credentials = { username: user.username, password: PASSWORD };
    const html = await (await signInOnDevicePage(browser, response.user_code, credentials)).text();
    expect(html).toContain("<strong>TechCorp CLI</strong>");
    expect(html).toContain("<code>openid</code>");
    expect(html).toContain("<code>email</code>: Read your email address.");
    expect(html).toContain('name="consent"');
    // Signed in, not yet approved.
    expect(await stillPending(response.user_code)).toBe(true);
    const denied = await browser.post("/auth/device", { ...hiddenFields(html), decision: "deny" });
    expect(await denied.text()).toContain("Device denied");
    expect((await pollError(await poll())).error).toBe("access_denied");
  });

  it("a forged or replayed consent approves nothing", async () => {
    const { user } = await register();
    const { response, poll } = await startDevice();
    const browser = new Browser();
    const credentials = { username: user.username, password: PASSWORD };
    const consentFields = hiddenFields(
      await (await signInOnDevicePage(browser, response.user_code, credentials)).text(),
    );
    const forged = await browser.post("/auth/device", {
      ...consentFields,
      consent: "A".repeat(43),
      decision: "approve",
    });
    expect(await forged.text()).toContain("no longer valid");
    expect(await stillPending(response.user_code)).toBe(true);
    // The real one, once; again, it is spent.
    expect(await (await browser.post("/auth/device", { ...consentFields, decision: "approve" })).text()).toContain(
      "Device approved",
    );
    // Approved: the code is no longer pending, so a replay finds nothing to approve.
    expect(await (await browser.post("/auth/device", { ...consentFields, decision: "approve" })).text()).toContain(
      "unknown or has expired",
    );
    expect((await oauth.processDeviceCodeResponse(as, CLI_CLIENT, await poll())).access_token).toBeTruthy();
  });

  it("an administrator asking through a device is never granted admin", async () => {
    const { user } = await register();
    const mfaSecret = await promote(user.id, { role: "admin" });
    const { response, poll } = await startDevice("openid admin users:read");
    const approved = await verify(response.user_code, "approve", user.username, mfaSecret);
    expect(await approved.text()).toContain("Device approved");
    const tokens = await oauth.processDeviceCodeResponse(as, CLI_CLIENT, await poll());
    expect(tokens.scope).toBe("openid users:read");
  });

  it("a session approved but never collected before the code expires is ended", async () => {
    const { user } = await register();
    const { response } = await startDevice();
    expect(await (await verify(response.user_code, "approve", user.username)).text()).toContain("Device approved");
    const sessions = testEnv.SESSIONS.get(testEnv.SESSIONS.idFromName(user.id));
    const cli = async () => (await sessions.list()).filter((session) => session.clientId === CLI.id);
    expect(await cli()).toHaveLength(1);
    await runInDurableObject(deviceObject(response.user_code), async (instance: DeviceAuthorization, state) => {
      state.storage.sql.exec("update device set expires_at = ?", Date.now() - 1);
      await instance.alarm();
    });
    expect(await cli()).toEqual([]);
  });

  it("a client not registered for the device grant cannot start one", async () => {
    const res = await oauth.deviceAuthorizationRequest(as, { client_id: WEB.id }, NONE, {}, through());
    await expectOAuthError(res, 400, "unauthorized_client");
  });
});
