import { exports } from "cloudflare:workers";
import * as oauth from "oauth4webapi";
import { LOCAL_OAUTH_CLIENTS } from "../stack/oauth-clients.ts";
import { randomIp } from "./auth-helpers.ts";
import { api, testEnv } from "./helpers.ts";

// The authorization endpoint driven as a browser would: the sign-in page fetched, its form posted
// back with the cookie it set, the redirect read (never followed: the redirect URIs name nothing).

export const ISSUER = new URL(testEnv.JWT_ISSUER);
export const WEB = LOCAL_OAUTH_CLIENTS[0] as (typeof LOCAL_OAUTH_CLIENTS)[number];
export const MOBILE = LOCAL_OAUTH_CLIENTS[1] as (typeof LOCAL_OAUTH_CLIENTS)[number];
export const CLI = LOCAL_OAUTH_CLIENTS[2] as (typeof LOCAL_OAUTH_CLIENTS)[number];
export const RESOURCE_SERVER = LOCAL_OAUTH_CLIENTS[3] as (typeof LOCAL_OAUTH_CLIENTS)[number];
export const WEB_REDIRECT = WEB.redirectUris[0] ?? "";
export const RESOURCE_SERVER_SECRET = (JSON.parse(testEnv.OAUTH_CLIENT_SECRETS) as Record<string, string>)[
  RESOURCE_SERVER.id
] as string;

export type Fetch = (request: Request) => Promise<Response>;

/** oauth4webapi's options, its requests sent to `send` (the worker by default) from one address. */
export function through(send: Fetch = (request) => exports.default.fetch(request), ip = randomIp()) {
  return {
    // The test stack serves plain http://api.test; production is HTTPS only.
    [oauth.allowInsecureRequests]: true,
    [oauth.customFetch]: (url: string, init: oauth.CustomFetchOptions<string, unknown>) =>
      send(
        new Request(url, {
          method: init.method,
          headers: { ...init.headers, "cf-connecting-ip": ip },
          body: init.body as BodyInit | null | undefined,
          redirect: init.redirect,
        }),
      ),
  };
}

export async function discover(): Promise<oauth.AuthorizationServer> {
  return oauth.processDiscoveryResponse(ISSUER, await oauth.discoveryRequest(ISSUER, through()));
}

const ENTITIES: Record<string, string> = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'" };
const decodeEntities = (text: string) =>
  text.replace(/&(amp|lt|gt|quot|#39);/g, (entity) => ENTITIES[entity] ?? entity);

/** The hidden fields of the page's form, by name. */
export function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)" \/>/g)) {
    fields[decodeEntities(match[1] ?? "")] = decodeEntities(match[2] ?? "");
  }
  return fields;
}

/** A browser's state between requests: its address and its cookies. */
export class Browser {
  readonly ip = randomIp();
  private readonly cookies = new Map<string, string>();

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("cf-connecting-ip", this.ip);
    if (this.cookies.size > 0) headers.set("cookie", [...this.cookies].map(([n, v]) => `${n}=${v}`).join("; "));
    const res = await api(path, { ...init, headers, redirect: "manual" });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair = ""] = cookie.split(";");
      const at = pair.indexOf("=");
      // A cookie set to expire now is dropped, as a browser drops it.
      if (/;\s*max-age=0(;|$)/i.test(cookie)) this.cookies.delete(pair.slice(0, at));
      else this.cookies.set(pair.slice(0, at), pair.slice(at + 1));
    }
    return res;
  }

  /** The value of a cookie the browser holds. */
  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }

  /** Holds a cookie as if a site had set it (a forged or stale one). */
  setCookie(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  /** Posts a form, from this site's pages (Origin as a browser sends it). */
  post(path: string, fields: Record<string, string>, origin = "http://api.test"): Promise<Response> {
    return this.fetch(path, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin },
      body: new URLSearchParams(fields).toString(),
    });
  }

  forgetCookies(): void {
    this.cookies.clear();
  }
}

export interface PkceRequest {
  clientId?: string;
  redirectUri?: string;
  scope?: string;
  state?: string;
  nonce?: string;
  verifier: string;
  challenge?: string | undefined;
  method?: string | undefined;
}

/** A PKCE authorization request's parameters, with a fresh verifier, state and nonce. */
export async function pkceRequest(
  overrides: Partial<PkceRequest> = {},
): Promise<PkceRequest & { params: URLSearchParams }> {
  const verifier = overrides.verifier ?? oauth.generateRandomCodeVerifier();
  const request: PkceRequest = {
    clientId: WEB.id,
    redirectUri: WEB_REDIRECT,
    scope: "openid profile email",
    state: oauth.generateRandomState(),
    nonce: oauth.generateRandomNonce(),
    challenge: await oauth.calculatePKCECodeChallenge(verifier),
    method: "S256",
    ...overrides,
    verifier,
  };
  const params = new URLSearchParams({ response_type: "code" });
  const set = (name: string, value: string | undefined) => value !== undefined && params.set(name, value);
  set("client_id", request.clientId);
  set("redirect_uri", request.redirectUri);
  set("scope", request.scope);
  set("state", request.state);
  set("nonce", request.nonce);
  set("code_challenge", request.challenge);
  set("code_challenge_method", request.method);
  return { ...request, params };
}

/**
 * Signs in on the authorization endpoint with a password (and, when the page asks for it, `otp()`'s
 * code): the final response (a 303 to the redirect URI, or the page again).
 */
export async function signInThrough(
  browser: Browser,
  params: URLSearchParams,
  credentials: { username: string; password: string; otp?: () => Promise<string> },
): Promise<Response> {
  const page = await browser.fetch(`/auth/authorize?${params}`);
  if (page.status !== 200) return page;
  const fields = hiddenFields(await page.text());
  const answer = await browser.post("/auth/authorize", {
    ...fields,
    username: credentials.username,
    password: credentials.password,
    decision: "approve",
  });
  if (answer.status !== 200 || !credentials.otp) return answer;
  const second = hiddenFields(await answer.text());
  return browser.post("/auth/authorize", { ...second, otp: await credentials.otp(), decision: "approve" });
}

/** The single sign-on cookie the sign-in pages set. */
export const SSO_COOKIE = "__Host-techcorp-sso";

/**
 * An authorization request answered by the authorization endpoint, as oauth4webapi validates the
 * callback (`state`, `iss`): with `credentials`, signed in on the page (`signInThrough`); without,
 * answered at once (single sign-on). Throws what oauth4webapi throws for an error response.
 */
export async function authorizeThrough(
  as: oauth.AuthorizationServer,
  browser: Browser,
  request: PkceRequest & { params: URLSearchParams },
  credentials?: Parameters<typeof signInThrough>[2],
): Promise<URLSearchParams> {
  const res = credentials
    ? await signInThrough(browser, request.params, credentials)
    : await browser.fetch(`/auth/authorize?${request.params}`);
  return oauth.validateAuthResponse(as, { client_id: request.clientId ?? WEB.id }, redirectOf(res), request.state);
}

/**
 * The token endpoint's answer to a callback's code (oauth4webapi's request, PKCE): for the
 * request's client, redirect URI and verifier unless `overrides` says otherwise.
 */
export function exchangeCode(
  as: oauth.AuthorizationServer,
  callback: URLSearchParams,
  request: PkceRequest,
  overrides: { client?: oauth.Client; redirectUri?: string; verifier?: string } = {},
): Promise<Response> {
  return oauth.authorizationCodeGrantRequest(
    as,
    overrides.client ?? { client_id: request.clientId ?? WEB.id },
    oauth.None(),
    callback,
    overrides.redirectUri ?? request.redirectUri ?? WEB_REDIRECT,
    overrides.verifier ?? request.verifier,
    through(),
  );
}

/**
 * The tokens of a code exchange, as oauth4webapi validates them: an OpenID Connect response (its ID
 * token required, with the request's nonce) when `openid` was asked, a plain OAuth one otherwise.
 */
export function tokensOf(
  as: oauth.AuthorizationServer,
  request: PkceRequest,
  exchange: Response,
): Promise<oauth.TokenEndpointResponse> {
  const client = { client_id: request.clientId ?? WEB.id };
  if (!(request.scope ?? "").split(" ").includes("openid")) {
    return oauth.processAuthorizationCodeResponse(as, client, exchange);
  }
  return oauth.processAuthorizationCodeResponse(as, client, exchange, {
    expectedNonce: request.nonce ?? oauth.expectNoNonce,
    requireIdToken: true,
  });
}

/**
 * The device verification page signed in on: its form fetched (`/auth/device`), the user code and,
 * unless `credentials` is null (single sign-on), a username and password posted with `decision`.
 * The page it answers (the consent page, the second factor's, or the form again).
 */
export async function signInOnDevicePage(
  browser: Browser,
  userCode: string,
  credentials: { username: string; password: string } | null,
  decision: "approve" | "deny" = "approve",
): Promise<Response> {
  const page = await browser.fetch(`/auth/device?user_code=${encodeURIComponent(userCode)}`);
  return browser.post("/auth/device", {
    ...hiddenFields(await page.text()),
    user_code: userCode,
    decision,
    ...credentials,
  });
}

/** The redirect a 303 makes, as a URL. */
export function redirectOf(res: Response): URL {
  const location = res.headers.get("location");
  if (res.status !== 303 && res.status !== 302) throw new Error(`expected a redirect, got ${res.status}`);
  if (!location) throw new Error("redirect without Location");
  return new URL(location);
}
