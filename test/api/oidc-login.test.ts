import * as oauth from "oauth4webapi";
import { describe, expect, it } from "vitest";
import { discover, insecureEndpoints } from "../../src/auth/oidc.ts";
import { stepAt, totpCode } from "../../src/auth/totp.ts";
import { createLogger } from "../../src/pkg/logger/logger.ts";
import {
  enrolMfaDirectly,
  PASSWORD,
  register,
  signedInAdmin,
  type Tokens,
  type UserJson,
  uniqueName,
} from "../auth-helpers.ts";
import { api, apiWith, captureLines, expectProblem, testEnv } from "../helpers.ts";
import {
  discover as discoverAuthorizationServer,
  exchangeCode,
  hiddenFields,
  pkceRequest,
  redirectOf,
  SSO_COOKIE,
  tokensOf,
  WEB_REDIRECT,
} from "../oauth-helpers.ts";

/**
 * A user agent for the authorization-code flow: follows redirects between our API (api.test) and
 * the local OpenID provider (stack/oidc-provider.ts, the `oidc-provider` package), keeping each
 * host's cookies.
 */
class Browser {
  private readonly jar = new Map<string, Map<string, string>>();

  async get(url: string): Promise<Response> {
    const target = new URL(url);
    const cookies = [...(this.jar.get(target.host) ?? new Map<string, string>())]
      .map(([k, v]) => `${k}=${v}`)
      .join("; ");
    const init: RequestInit = { redirect: "manual", headers: cookies ? { cookie: cookies } : {} };
    const res =
      target.host === "api.test" ? await api(`${target.pathname}${target.search}`, init) : await fetch(url, init);
    const jar = this.jar.get(target.host) ?? new Map<string, string>();
    for (const line of res.headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";");
      const [name = "", ...rest] = pair.split("=");
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=thu, 01 jan 1970/i.test(a));
      if (expired) jar.delete(name.trim());
      else jar.set(name.trim(), rest.join("="));
    }
    this.jar.set(target.host, jar);
    return res;
  }

  /** Posts a form to our API from its own pages (Origin as a browser sends it). */
  post(path: string, fields: Record<string, string>): Promise<Response> {
    const cookies = [...(this.jar.get("api.test") ?? new Map<string, string>())].map(([k, v]) => `${k}=${v}`);
    return api(path, {
      method: "POST",
      redirect: "manual",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        origin: "http://api.test",
        cookie: cookies.join("; "),
      },
      body: new URLSearchParams(fields).toString(),
    });
  }

  /** Follows redirects from `url` until one leads to our callback; returns that callback URL. */
  async toCallback(url: string): Promise<string> {
    let next = url;
    for (let hop = 0; hop < 20; hop++) {
      const res = await this.get(next);
      const location = res.headers.get("location");
      if (res.status < 300 || res.status >= 400 || !location) {
        throw new Error(`stopped at ${next}: ${res.status} ${await res.text()}`);
      }
      next = new URL(location, next).toString();
      if (next.startsWith("http://api.test/auth/oidc/")) return next;
    }
    throw new Error("too many redirects");
  }

  cookie(host: string, name: string): string | undefined {
    return this.jar.get(host)?.get(name);
  }
}

async function loginWith(email: string, browser = new Browser()) {
  const callback = await browser.toCallback(
    `http://api.test/auth/oidc/local/authorize?login_hint=${encodeURIComponent(email)}`,
  );
  return { browser, callback, res: await browser.get(callback) };
}

async function me(tokens: Tokens): Promise<UserJson & { emailVerified: boolean }> {
  return (await (
    await api("/users/me", { headers: { authorization: `Bearer ${tokens.access_token}` } })
  ).json()) as UserJson & {
    emailVerified: boolean;
  };
}

describe("third-party login (OpenID Connect, authorization code + PKCE)", () => {
  it("redirects to the provider with PKCE (S256), state and nonce, keeping them in a sealed host-only cookie", async () => {
    const res = await api("/auth/oidc/local/authorize", { redirect: "manual" });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get("location") ?? "");
    expect(location.pathname).toBe("/auth");
    expect(Object.fromEntries(location.searchParams)).toMatchObject({
      response_type: "code",
      client_id: "techcorp-api",
      redirect_uri: "http://api.test/auth/oidc/local/callback",
      scope: "openid email profile",
      code_challenge_method: "S256",
      state: expect.stringMatching(/^[\w-]{43}$/),
      nonce: expect.stringMatching(/^[\w-]{43}$/),
      code_challenge: expect.stringMatching(/^[\w-]{43}$/),
    });
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^__Host-techcorp-oidc=v1\./);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/Secure/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).not.toContain(location.searchParams.get("state") ?? "-");
  });

  it("creates an account for a new, verified email and signs it in", async () => {
    const email = `${uniqueName("oidc")}@example.com`;
    const { res } = await loginWith(email);
    expect(res.status).toBe(200);
    const user = await me((await res.json()) as Tokens);
    expect(user).toMatchObject({ email, emailVerified: true, role: "user" });
    expect(user.username).toMatch(/^oidc-[\w-]+-[0-9a-f]{6}$/);
  });

  it("signs the same provider account into the same user next time", async () => {
    const email = `${uniqueName("again")}@example.com`;
    const first = await me((await (await loginWith(email)).res.json()) as Tokens);
    const second = await me((await (await loginWith(email)).res.json()) as Tokens);
    expect(second.id).toBe(first.id);
  });

  it("links to an existing account whose email is verified on both sides", async () => {
    const { user } = await register();
    const admin = await signedInAdmin();
    await api(`/users/${user.id}`, {
      method: "PATCH",
      headers: { ...admin.auth, "content-type": "application/json" },
      body: JSON.stringify({ emailVerified: true }),
    });
    const { res } = await loginWith(user.email);
    expect(res.status).toBe(200);
    expect((await me((await res.json()) as Tokens)).id).toBe(user.id);
    // The password still works too.
    expect(
      (
        await api("/auth/token", {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": "10.9.9.9" },
          body: new URLSearchParams({ grant_type: "password", username: user.email, password: PASSWORD }).toString(),
        })
      ).status,
    ).toBe(200);
  });

  it("does not link to an account whose email was never verified (pre-account takeover)", async () => {
    // Someone registered this address with a password of their choosing; the owner now arrives
    // through the provider. Linking would let the registrant keep a way into the owner's account.
    const { user } = await register();
    const problem = await expectProblem((await loginWith(user.email)).res, 409);
    expect(problem.detail).toMatch(/not verified/);
  });

  it("never links or creates on an email the provider has not verified", async () => {
    const { user } = await register({ email: `unverified-${uniqueName()}@example.com` });
    const { res } = await loginWith(user.email);
    const problem = await expectProblem(res, 403);
    expect(problem.detail).toMatch(/not verified/);
    const { res: fresh } = await loginWith(`unverified-${uniqueName()}@example.com`);
    await expectProblem(fresh, 403);
  });

  it("refuses, naming the provider's claim, an identity Postgres text cannot hold", async () => {
    // The local provider makes the address typed at its login both the subject and the email.
    const { res } = await loginWith(`nul\u0000${uniqueName()}@example.com`);
    const problem = await expectProblem(res, 400);
    expect(problem.detail).toMatch(
      /^Third-party login failed: the provider's "(sub|email)" claim must not contain U\+0000/,
    );
  });

  it("refuses a provider's email address that registration would refuse, instead of storing it", async () => {
    // Accepted by the local provider, refused by the User schema's email rule.
    for (const address of [`a..${uniqueName()}@example.com`, `${uniqueName()}@localhost`]) {
      const { res } = await loginWith(address);
      const problem = await expectProblem(res, 400);
      expect(problem.detail).toMatch(/^Third-party login failed: the provider's email address is not one/);
    }
  });

  it("refuses a callback whose state does not match the browser's", async () => {
    const browser = new Browser();
    const callback = await browser.toCallback("http://api.test/auth/oidc/local/authorize?login_hint=x@example.com");
    const tampered = new URL(callback);
    tampered.searchParams.set("state", "someone-elses-state");
    const problem = await expectProblem(await browser.get(tampered.toString()), 400);
    expect(problem.detail).toMatch(/state/);
  });

  it("refuses a callback from a browser that never started the login (login CSRF)", async () => {
    const { callback } = await (async () => {
      const browser = new Browser();
      return {
        callback: await browser.toCallback("http://api.test/auth/oidc/local/authorize?login_hint=y@example.com"),
      };
    })();
    const problem = await expectProblem(await new Browser().get(callback), 400);
    expect(problem.detail).toMatch(/no login was started/);
  });

  it("cannot replay a callback (the code and the state are single-use)", async () => {
    const { browser, callback, res } = await loginWith(`${uniqueName("replay")}@example.com`);
    expect(res.status).toBe(200);
    expect(browser.cookie("api.test", "__Host-techcorp-oidc")).toBeUndefined();
    await expectProblem(await browser.get(callback), 400);
  });

  it("reports an error the provider sends back", async () => {
    const browser = new Browser();
    const callback = new URL(
      await browser.toCallback("http://api.test/auth/oidc/local/authorize?login_hint=z@example.com"),
    );
    callback.searchParams.delete("code");
    callback.searchParams.set("error", "access_denied");
    callback.searchParams.set("error_description", "Your account is locked: call +1 555 0100 now");
    const problem = await expectProblem(await browser.get(callback.toString()), 400);
    // The code comes from a closed list (RFC 6749 §4.1.2.1); the provider's free text is only logged.
    expect(problem.detail).toBe("Third-party login failed: the provider answered access_denied");
  });

  it("names an error code outside RFC 6749's list only as unknown", async () => {
    const browser = new Browser();
    const callback = new URL(
      await browser.toCallback("http://api.test/auth/oidc/local/authorize?login_hint=u@example.com"),
    );
    callback.searchParams.delete("code");
    callback.searchParams.set("error", "visit_evil.example_to_continue");
    const problem = await expectProblem(await browser.get(callback.toString()), 400);
    expect(problem.detail).toBe("Third-party login failed: the provider answered an unknown error");
  });

  it("asks for the second factor when the account has MFA on", async () => {
    const email = `${uniqueName("mfa")}@example.com`;
    const tokens = (await (await loginWith(email)).res.json()) as Tokens;
    const auth = { authorization: `Bearer ${tokens.access_token}` };
    const { stepAt, totpCode } = await import("../../src/auth/totp.ts");
    const setup = (await (await api("/auth/mfa/setup", { method: "POST", headers: auth })).json()) as {
      secret: string;
    };
    const confirmed = await api("/auth/mfa/confirm", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ code: await totpCode(setup.secret, stepAt(Date.now())) }),
    });
    expect(confirmed.status).toBe(200);
    const problem = (await expectProblem((await loginWith(email)).res, 403)) as { error?: string; mfa_token?: string };
    expect(problem.error).toBe("mfa_required");
    expect(problem.mfa_token).toBeTruthy();
  });

  it("404s an unknown provider", async () => {
    await expectProblem(await api("/auth/oidc/nope/authorize"), 404);
  });
});

/**
 * An authorization request of the web app's, signed in through the sign-in page's provider link
 * (the local provider, as `email`): the callback's answer (a 303 to the redirect URI, or a page).
 */
async function signInPageWithProvider(email: string, browser = new Browser()) {
  const request = await pkceRequest({ scope: "openid profile email read" });
  const page = await browser.get(`http://api.test/auth/authorize?${request.params}`);
  expect(page.status).toBe(200);
  const link = /<a href="([^"]+)">Continue with Local OpenID provider<\/a>/.exec(await page.text())?.[1];
  if (!link) throw new Error("the sign-in page offers no provider");
  const start = new URL(link.replaceAll("&amp;", "&"), "http://api.test");
  expect(start.pathname).toBe("/auth/oidc/local/authorize");
  start.searchParams.set("login_hint", email);
  const callback = await browser.toCallback(start.href);
  return { browser, request, res: await browser.get(callback) };
}

describe("third-party login on the authorization endpoint's sign-in page", () => {
  it("resumes the authorization request: a code at the client's redirect URI, amr fed, and single sign-on", async () => {
    const email = `${uniqueName("page")}@example.com`;
    const { browser, request, res } = await signInPageWithProvider(email);
    expect(res.status).toBe(303);
    const as = await discoverAuthorizationServer();
    const redirect = redirectOf(res);
    expect(`${redirect.origin}${redirect.pathname}`).toBe(WEB_REDIRECT);
    const callback = oauth.validateAuthResponse(as, { client_id: "techcorp-first-party" }, redirect, request.state);
    const tokens = await tokensOf(as, request, await exchangeCode(as, callback, request));
    expect(oauth.getValidatedIdTokenClaims(tokens)?.amr).toEqual(["fed"]);
    expect(await me({ access_token: tokens.access_token } as Tokens)).toMatchObject({ email, emailVerified: true });
    expect(browser.cookie("api.test", SSO_COOKIE)).toBeTruthy();
    // The browser is signed in now: the next authorization request is answered at once.
    const again = await pkceRequest();
    const at = redirectOf(await browser.get(`http://api.test/auth/authorize?${again.params}`));
    expect(at.searchParams.get("code")).toBeTruthy();
  });

  it("asks an account with MFA on for its second factor on the page; amr says the first factor was federated", async () => {
    const email = `${uniqueName("pagemfa")}@example.com`;
    const created = await me((await (await loginWith(email)).res.json()) as Tokens);
    const secret = await enrolMfaDirectly(created.id);
    const { browser, request, res } = await signInPageWithProvider(email);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('name="otp"');
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const answer = await browser.post("/auth/authorize", {
      ...hiddenFields(html),
      otp: await totpCode(secret, stepAt(Date.now())),
      decision: "approve",
    });
    const as = await discoverAuthorizationServer();
    const callback = oauth.validateAuthResponse(
      as,
      { client_id: "techcorp-first-party" },
      redirectOf(answer),
      request.state,
    );
    const tokens = await tokensOf(as, request, await exchangeCode(as, callback, request));
    expect(oauth.getValidatedIdTokenClaims(tokens)).toMatchObject({ amr: ["fed", "otp", "mfa"], sub: created.id });
  });

  it("shows the sign-in page again, saying why, when the provider's answer cannot sign anyone in", async () => {
    const { res } = await signInPageWithProvider(`unverified-${uniqueName("page")}@example.com`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("The provider has not verified this email address");
    expect(html).toContain('name="password"');
  });

  it("resumes nothing but the authorization endpoint", async () => {
    for (const returnTo of ["https://evil.example/auth/authorize?x", "//evil.example/auth/authorize?", "/users/me"]) {
      const res = await api(`/auth/oidc/local/authorize?return_to=${encodeURIComponent(returnTo)}`, {
        redirect: "manual",
      });
      const problem = await expectProblem(res, 400);
      expect(JSON.stringify(problem)).toContain("return_to");
    }
  });
});

describe("the OpenID client's back channel (unsafe consumption of APIs, OWASP API10)", () => {
  /**
   * A scripted provider at the test stack's control server (stack/control.ts, `/canned/{name}`):
   * a discovery document naming its own endpoints, plus whatever the test adds.
   */
  async function scriptedProvider(paths: Record<string, unknown> = {}) {
    const name = `idp-${crypto.randomUUID().slice(0, 8)}`;
    const issuer = `${testEnv.CONTROL_URL}/canned/${name}`;
    const discovery = {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
    };
    await fetch(`${testEnv.CONTROL_URL}/canned/${name}`, {
      method: "PUT",
      body: JSON.stringify({ "/.well-known/openid-configuration": { status: 200, json: discovery }, ...paths }),
    });
    const bindings = {
      OIDC_PROVIDERS: JSON.stringify([{ id: "scripted", issuer, clientId: "techcorp-api" }]),
      OIDC_CLIENT_SECRETS: JSON.stringify({ scripted: "the-client-secret" }),
      LOG_LEVEL: "warn",
    };
    return {
      issuer,
      bindings,
      received: async () =>
        (await (await fetch(`${testEnv.CONTROL_URL}/canned/${name}`)).json()) as {
          method: string;
          headers: Record<string, string>;
          body: string;
        }[],
      /** Starts a login and comes back to the callback with a code, as the browser would. */
      callback: async () => {
        const start = await apiWith(bindings, "/auth/oidc/scripted/authorize", { redirect: "manual" });
        expect(start.status).toBe(302);
        const state = new URL(start.headers.get("location") ?? "").searchParams.get("state") ?? "";
        const cookie = (start.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
        return apiWith(bindings, `/auth/oidc/scripted/callback?code=the-code&state=${encodeURIComponent(state)}`, {
          headers: { cookie },
        });
      },
    };
  }

  it("does not follow a redirect of the discovery request", async () => {
    const provider = await scriptedProvider();
    await fetch(provider.issuer, {
      method: "PUT",
      body: JSON.stringify({
        "/.well-known/openid-configuration": { status: 302, headers: { location: `${provider.issuer}/elsewhere` } },
      }),
    });
    const problem = await expectProblem(
      await apiWith(provider.bindings, "/auth/oidc/scripted/authorize", { redirect: "manual" }),
      400,
    );
    expect(problem.detail).toMatch(/answered 302 at .*; redirects are not followed$/);
    expect((await provider.received()).map((r) => r.method)).toEqual(["GET /.well-known/openid-configuration"]);
  });

  it("never sends the client secret on to where the token endpoint redirects", async () => {
    const provider = await scriptedProvider();
    await fetch(provider.issuer, {
      method: "PUT",
      body: JSON.stringify({
        "/.well-known/openid-configuration": {
          status: 200,
          json: {
            issuer: provider.issuer,
            authorization_endpoint: `${provider.issuer}/authorize`,
            token_endpoint: `${provider.issuer}/token`,
            jwks_uri: `${provider.issuer}/jwks`,
          },
        },
        // 307 keeps the method and the body: a client that follows it re-sends the credentials.
        "/token": { status: 307, headers: { location: `${provider.issuer}/collect` } },
      }),
    });
    const problem = await expectProblem(await provider.callback(), 400);
    expect(problem.detail).toMatch(/answered 307 at .*\/token; redirects are not followed$/);
    const received = await provider.received();
    expect(received.map((r) => r.method)).not.toContain("POST /collect");
    expect(received.find((r) => r.method === "POST /token")?.headers.authorization).toMatch(/^Basic /);
  });

  it("logs the provider's error text instead of showing it", async () => {
    const description = "Session expired. Sign in again at https://evil.example/login";
    const provider = await scriptedProvider({
      "/token": { status: 400, json: { error: "invalid_grant", error_description: description } },
    });
    let problem: Awaited<ReturnType<typeof expectProblem>> | undefined;
    const lines = await captureLines(async () => {
      problem = await expectProblem(await provider.callback(), 400);
    });
    expect(problem?.detail).toMatch(/^Third-party login failed: the provider answered 400 at \/canned\/[\w-]+\/token$/);
    expect(JSON.stringify(problem)).not.toContain("evil.example");
    expect(lines).toContainEqual(
      expect.objectContaining({
        message: "identity provider refused a request",
        status: 400,
        providerError: "invalid_grant",
        providerErrorDescription: description,
      }),
    );
  });

  it("refuses a key set that is not one before using it", async () => {
    const provider = await scriptedProvider({
      "/token": { status: 200, json: { id_token: "a.b.c" } },
      "/jwks": { status: 200, json: { keys: "all of them" } },
    });
    const problem = await expectProblem(await provider.callback(), 400);
    expect(problem.detail).toBe("Third-party login failed: its key set (jwks_uri) is not a JSON Web Key Set");
  });

  it("reads at most 256 KiB of a provider's answer", async () => {
    const provider = await scriptedProvider({
      "/token": { status: 200, json: { id_token: "a.b.c", padding: "x".repeat(300 * 1024) } },
    });
    const problem = await expectProblem(await provider.callback(), 400);
    expect(problem.detail).toMatch(/answer at .*\/token is larger than 262144 bytes$/);
  });

  it("requires https issuers and endpoints unless the local allowance is set (it is refused in production)", async () => {
    const noAllowance = { OIDC_ALLOW_HTTP: "false" };
    const res = await apiWith(noAllowance, "/auth/oidc/local/authorize", { redirect: "manual" });
    const problem = await expectProblem(res, 500);
    expect(problem.type).toBe("/problems/config_invalid");
    expect(problem.detail).toContain("OIDC_PROVIDERS.0.issuer");
    // The same rule at the time of use: nothing is fetched from an http issuer.
    const logger = createLogger({ level: "error" });
    const provider = { id: "x", clientId: "c", scopes: ["openid"], clientSecret: undefined, timeoutMs: 1000 };
    await expect(discover({ ...provider, issuer: "http://idp.example.com", allowHttp: false }, logger)).rejects.toThrow(
      "its issuer is not an https URL",
    );
    // An https issuer's document must not send the token request or the key fetch over http.
    const document = {
      authorization_endpoint: "https://idp.example.com/authorize",
      token_endpoint: "http://idp.example.com/token",
      jwks_uri: "https://idp.example.com/jwks",
      userinfo_endpoint: "http://idp.example.com/userinfo",
    };
    expect(insecureEndpoints(document, false)).toEqual([document.token_endpoint, document.userinfo_endpoint]);
    expect(insecureEndpoints(document, true)).toEqual([]);
  });
});
