import * as oauth from "oauth4webapi";
import { beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, register } from "../auth-helpers.ts";
import { api } from "../helpers.ts";
import {
  Browser,
  CLI,
  discover,
  hiddenFields,
  pkceRequest,
  RESOURCE_SERVER,
  RESOURCE_SERVER_SECRET,
  redirectOf,
  signInOnDevicePage,
  through,
  WEB,
  WEB_REDIRECT,
} from "../oauth-helpers.ts";

// How many Durable Object calls each OAuth request makes (each crosses to wherever its object
// lives; README, "Where each Durable Object lives"), as the response reports them outside
// production (`Server-Timing: durable-objects;desc="<n>"`).

const WEB_CLIENT: oauth.Client = { client_id: WEB.id };
const RS_CLIENT: oauth.Client = { client_id: RESOURCE_SERVER.id };
const NONE = oauth.None();

function durableObjectCalls(res: Response): number | undefined {
  const metric = /(?:^|,)\s*durable-objects;desc="(\d+)"/.exec(res.headers.get("server-timing") ?? "");
  return metric?.[1] === undefined ? undefined : Number(metric[1]);
}

let as: oauth.AuthorizationServer;

beforeAll(async () => {
  as = await discover();
});

describe("Durable Object calls of the OAuth endpoints", () => {
  it("the authorization code flow: page 1, sign-in 6, exchange 2, userinfo 1, introspection 2, revocation 2", async () => {
    const { user } = await register();
    const request = await pkceRequest();
    const browser = new Browser();
    const page = await browser.fetch(`/auth/authorize?${request.params}`);
    // The address's limiter.
    expect(durableObjectCalls(page)).toBe(1);
    const signIn = await browser.post("/auth/authorize", {
      ...hiddenFields(await page.text()),
      username: user.username,
      password: PASSWORD,
      decision: "approve",
    });
    // The limiter; the account's and address's throttles, reserved then settled; the code, stored
    // with the user's principal in their SESSIONS object.
    expect(durableObjectCalls(signIn)).toBe(6);
    const callback = oauth.validateAuthResponse(as, WEB_CLIENT, redirectOf(signIn), request.state);
    const exchange = await oauth.authorizationCodeGrantRequest(
      as,
      WEB_CLIENT,
      NONE,
      callback,
      WEB_REDIRECT,
      request.verifier,
      through(),
    );
    // The limiter; the code consumed and the session started in one call.
    expect(durableObjectCalls(exchange)).toBe(2);
    const tokens = await oauth.processAuthorizationCodeResponse(as, WEB_CLIENT, exchange, {
      expectedNonce: request.nonce ?? oauth.expectNoNonce,
    });
    const userInfo = await api("/auth/userinfo", { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(userInfo.status).toBe(200);
    expect(durableObjectCalls(userInfo)).toBe(1);
    const auth = oauth.ClientSecretBasic(RESOURCE_SERVER_SECRET);
    const introspection = await oauth.introspectionRequest(as, RS_CLIENT, auth, tokens.access_token, through());
    expect(durableObjectCalls(introspection)).toBe(2);
    const revocation = await oauth.revocationRequest(as, WEB_CLIENT, NONE, tokens.refresh_token ?? "", through());
    expect(revocation.status).toBe(200);
    expect(durableObjectCalls(revocation)).toBe(2);
  });

  it("single sign-on: a second authorization 2 (no sign-in), the device page's sign-in by it 4", async () => {
    const { user } = await register();
    const browser = new Browser();
    const first = await pkceRequest();
    const page = await browser.fetch(`/auth/authorize?${first.params}`);
    await browser.post("/auth/authorize", {
      ...hiddenFields(await page.text()),
      username: user.username,
      password: PASSWORD,
      decision: "approve",
    });
    const second = await browser.fetch(`/auth/authorize?${(await pkceRequest()).params}`);
    expect(redirectOf(second).searchParams.get("code")).toBeTruthy();
    // The limiter; the code issued under the single sign-on session, in one call to the user's
    // SESSIONS object (and no database round trip).
    expect(durableObjectCalls(second)).toBe(2);
    const client: oauth.Client = { client_id: CLI.id };
    const started = await oauth.deviceAuthorizationRequest(as, client, NONE, {}, through());
    const device = await oauth.processDeviceAuthorizationResponse(as, client, started);
    const consentPage = await signInOnDevicePage(browser, device.user_code, null);
    expect(await consentPage.text()).toContain('name="consent"');
    // The limiter; is it pending; the single sign-on session used (no throttle: no password);
    // the signed-in user kept for the consent.
    expect(durableObjectCalls(consentPage)).toBe(4);
  });

  it("the device grant: authorization 2, each poll 2, the sign-in 7, the consent 5", async () => {
    const client: oauth.Client = { client_id: CLI.id };
    const options = through();
    const started = await oauth.deviceAuthorizationRequest(as, client, NONE, {}, options);
    expect(durableObjectCalls(started)).toBe(2);
    const response = await oauth.processDeviceAuthorizationResponse(as, client, started);
    const poll = await oauth.deviceCodeGrantRequest(as, client, NONE, response.device_code, options);
    expect(poll.status).toBe(400);
    expect(durableObjectCalls(poll)).toBe(2);
    const { user } = await register();
    const browser = new Browser();
    const page = await browser.fetch("/auth/device");
    const signedIn = await browser.post("/auth/device", {
      ...hiddenFields(await page.text()),
      user_code: response.user_code,
      username: user.username,
      password: PASSWORD,
      decision: "approve",
    });
    const consentPage = await signedIn.text();
    expect(consentPage).toContain('name="consent"');
    // The limiter; the user code's object (is it pending?); the throttles, reserved then settled;
    // the signed-in user kept in the user code's object for the consent.
    expect(durableObjectCalls(signedIn)).toBe(7);
    const approval = await browser.post("/auth/device", { ...hiddenFields(consentPage), decision: "approve" });
    expect(await approval.text()).toContain("Device approved");
    // The limiter; is it pending; the consent taken; the new session; the approval handed over.
    expect(durableObjectCalls(approval)).toBe(5);
  });
});
