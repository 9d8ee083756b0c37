import { base64url, createLocalJWKSet, type JSONWebKeySet, jwtVerify } from "jose";
import { z } from "zod";
import type { AuthConfig } from "../pkg/config/config.ts";
import { createSecretBox, type EncryptionKeyInput } from "../pkg/crypto/secret-box.ts";
import { ApiError, DependencyError } from "../pkg/errors/api-error.ts";
import { BodyTooLargeError, readBoundedText } from "../pkg/http/bounded-body.ts";
import type { Logger } from "../pkg/logger/logger.ts";
import { textProblem } from "../pkg/validation/postgres.ts";
import { constantTimeEqual } from "./password-hasher.ts";

export type OidcProviderConfig = AuthConfig["oidcProviders"][number];

/** The email addresses accounts may have: zod's email rule, at most 255 characters (as registration). */
const PROVIDER_EMAIL = z.email().max(255);
const PROVIDER_EMAIL_RULE = "a plain address of at most 255 characters";

/** What a provider tells us about the person who signed in. */
export interface ExternalIdentity {
  provider: string;
  subject: string;
  email: string;
  emailVerified: boolean;
  name: string | undefined;
}

/** How long a started login may take before its state expires. */
const LOGIN_TTL_MS = 10 * 60_000;
const DISCOVERY_TTL_MS = 60 * 60_000;
/**
 * The most of a provider's answer we read (discovery, token, keys, userinfo: each a few KiB): a
 * provider is someone else's server, and a Worker has 128 MB (OWASP API10:2023).
 */
export const MAX_PROVIDER_BODY_BYTES = 256 * 1024;
/**
 * The error codes a provider may send to the callback (RFC 6749 §4.1.2.1, OpenID Connect Core
 * §3.1.2.6): shown to the user; anything else, and every error_description, is only logged.
 */
const AUTHORIZATION_ERRORS = new Set([
  "invalid_request",
  "unauthorized_client",
  "access_denied",
  "unsupported_response_type",
  "invalid_scope",
  "server_error",
  "temporarily_unavailable",
  "interaction_required",
  "login_required",
  "account_selection_required",
  "consent_required",
  "invalid_request_uri",
  "invalid_request_object",
  "request_not_supported",
  "request_uri_not_supported",
  "registration_not_supported",
]);
/** ID tokens signed with a MAC (HS*) or not at all are never accepted. */
const ASYMMETRIC = /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/;

const DiscoverySchema = z.object({
  issuer: z.url(),
  authorization_endpoint: z.url(),
  token_endpoint: z.url(),
  jwks_uri: z.url(),
  userinfo_endpoint: z.url().optional(),
  id_token_signing_alg_values_supported: z.array(z.string()).default(["RS256"]),
  code_challenge_methods_supported: z.array(z.string()).optional(),
});
type Discovery = z.infer<typeof DiscoverySchema>;

/** A JSON Web Key Set (RFC 7517 §5): a provider publishes a handful of keys, never thousands. */
const KeySetSchema = z.object({ keys: z.array(z.looseObject({ kty: z.string() })).max(100) });
const TokenResponse = z.object({ id_token: z.string(), access_token: z.string().optional() });
const ClaimsSchema = z.looseObject({
  sub: z.string().min(1),
  email: z.string().optional(),
  email_verified: z.union([z.boolean(), z.enum(["true", "false"])]).optional(),
  name: z.string().optional(),
});

/** Sealed into a short-lived cookie between the redirect out and the callback. */
/**
 * A started login, sealed in the state cookie: provider, `state`, `nonce`, PKCE verifier, start
 * (epoch ms), and the authorization request to resume after it (`r`, `beginLogin`'s `resume`).
 */
const PendingLogin = z.object({
  p: z.string(),
  s: z.string(),
  n: z.string(),
  v: z.string(),
  t: z.number(),
  r: z.string().optional(),
});

const random = () => base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
const encoder = new TextEncoder();

function providerError(detail: string, cause?: unknown): ApiError {
  return new ApiError("bad_request", { detail: `Third-party login failed: ${detail}`, cause });
}

// Discovery documents are plain data, safe to keep per isolate.
const discoveries = new Map<string, { document: Discovery; at: number }>();

/**
 * GETs or POSTs `url` and reads its JSON body, all within `timeoutMs` (OIDC_TIMEOUT_MS). A provider
 * that cannot be reached, or stalls before its body is complete, is `DependencyError` (503), never
 * taken for a malformed answer (400). Back-channel requests never follow redirects (the token
 * request carries the client secret; a redirect would hand it, or our trust, to another host):
 * a 3xx is a failed request. At most `MAX_PROVIDER_BODY_BYTES` of the body are read. What a
 * provider says when it fails (its `error`, `error_description`) is logged, never shown to the
 * user (OWASP API10:2023): the problem names only the endpoint's status.
 */
async function fetchJson(url: string, timeoutMs: number, logger: Logger, init?: RequestInit): Promise<unknown> {
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: "manual", signal });
  } catch (error) {
    throw new DependencyError("identity provider", error);
  }
  const endpoint = new URL(url).pathname;
  let text: string;
  try {
    text = await readBoundedText(res, MAX_PROVIDER_BODY_BYTES);
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      logger.warn("identity provider answer too large", { url, status: res.status, limitBytes: error.limitBytes });
      throw providerError(`the provider's answer at ${endpoint} is larger than ${MAX_PROVIDER_BODY_BYTES} bytes`);
    }
    throw new DependencyError("identity provider", signal.aborted ? (signal.reason ?? error) : error);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.status >= 300 && res.status < 400) {
    logger.warn("identity provider redirected a back-channel request", { url, status: res.status });
    throw providerError(`the provider answered ${res.status} at ${endpoint}; redirects are not followed`);
  }
  if (!res.ok) {
    const said = (body ?? {}) as { error?: unknown; error_description?: unknown };
    logger.warn("identity provider refused a request", {
      url,
      status: res.status,
      providerError: typeof said.error === "string" ? said.error.slice(0, 256) : undefined,
      providerErrorDescription:
        typeof said.error_description === "string" ? said.error_description.slice(0, 1024) : undefined,
    });
    throw providerError(`the provider answered ${res.status} at ${endpoint}`);
  }
  return body;
}

/**
 * Whether `url` may be a provider's address: https (OpenID Connect Discovery §3, RFC 8414 §2),
 * or http only where OIDC_ALLOW_HTTP allows it (the local stack).
 */
const secureEnough = (url: string, allowHttp: boolean) =>
  url.startsWith("https://") || (allowHttp && url.startsWith("http://"));

/** The endpoints of a discovery document that are not https (and not allowed as http). */
export function insecureEndpoints(
  discovery: Pick<Discovery, "authorization_endpoint" | "token_endpoint" | "jwks_uri" | "userinfo_endpoint">,
  allowHttp: boolean,
): string[] {
  const { authorization_endpoint, token_endpoint, jwks_uri, userinfo_endpoint } = discovery;
  return [authorization_endpoint, token_endpoint, jwks_uri, userinfo_endpoint].filter(
    (endpoint): endpoint is string => endpoint !== undefined && !secureEnough(endpoint, allowHttp),
  );
}

/**
 * The provider's metadata, from `<issuer>/.well-known/openid-configuration`. The issuer and every
 * endpoint it names must be https unless `provider.allowHttp` (the local stack's allowance).
 */
export async function discover(provider: OidcProviderConfig, logger: Logger): Promise<Discovery> {
  const { issuer, timeoutMs, allowHttp } = provider;
  if (!secureEnough(issuer, allowHttp)) throw providerError("its issuer is not an https URL");
  const cached = discoveries.get(issuer);
  if (cached && Date.now() - cached.at < DISCOVERY_TTL_MS) return cached.document;
  const parsed = DiscoverySchema.safeParse(
    await fetchJson(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`, timeoutMs, logger),
  );
  if (!parsed.success) throw providerError("its discovery document is incomplete");
  // OpenID Connect Discovery §4.3: the document must name the issuer we asked.
  if (parsed.data.issuer !== issuer) throw providerError("its discovery document names another issuer");
  if (insecureEndpoints(parsed.data, allowHttp).length > 0) {
    throw providerError("its discovery document names an endpoint that is not https");
  }
  discoveries.set(issuer, { document: parsed.data, at: Date.now() });
  return parsed.data;
}

export const redirectUri = (publicUrl: string, providerId: string) => `${publicUrl}/auth/oidc/${providerId}/callback`;

/**
 * Starts an authorization-code login with PKCE (S256), `state` and `nonce`. Returns where to send
 * the browser and the sealed state for a cookie that only this server can read.
 *
 * @param options.resume what to continue with after the login (our authorization endpoint's
 *   request, as `finishLogin` returns it): sealed with the state, so nobody can change it on the way
 * @throws DependencyError when the provider's discovery fails; ApiError when it lacks PKCE S256
 */
export async function beginLogin(
  provider: OidcProviderConfig,
  options: {
    publicUrl: string;
    encryptionKey: EncryptionKeyInput;
    loginHint?: string | undefined;
    resume?: string | undefined;
    logger: Logger;
  },
): Promise<{ location: string; sealedState: string }> {
  const discovery = await discover(provider, options.logger);
  if (discovery.code_challenge_methods_supported && !discovery.code_challenge_methods_supported.includes("S256")) {
    throw providerError("the provider does not support PKCE with S256");
  }
  const pending = { p: provider.id, s: random(), n: random(), v: random(), t: Date.now(), r: options.resume };
  const challenge = base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(pending.v))));
  const url = new URL(discovery.authorization_endpoint);
  const params = {
    response_type: "code",
    client_id: provider.clientId,
    redirect_uri: redirectUri(options.publicUrl, provider.id),
    scope: provider.scopes.join(" "),
    state: pending.s,
    nonce: pending.n,
    code_challenge: challenge,
    code_challenge_method: "S256",
    ...(options.loginHint ? { login_hint: options.loginHint } : {}),
  };
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  const box = await createSecretBox(options.encryptionKey, "oidc-state");
  return { location: url.toString(), sealedState: await box.seal(JSON.stringify(pending)) };
}

async function openPending(sealed: string | undefined, encryptionKey: EncryptionKeyInput) {
  if (!sealed) throw providerError("no login was started from this browser (or it expired)");
  const box = await createSecretBox(encryptionKey, "oidc-state");
  const opened = await box.open(sealed).catch(() => undefined);
  const pending = opened ? PendingLogin.safeParse(JSON.parse(opened)) : undefined;
  if (!pending?.success) throw providerError("the login state is not valid");
  if (Date.now() - pending.data.t > LOGIN_TTL_MS) throw providerError("the login took too long; start again");
  return pending.data;
}

const sameString = (a: string, b: string) => constantTimeEqual(encoder.encode(a), encoder.encode(b));

/**
 * Completes the login at the callback: checks `state` against the sealed cookie (and `iss`,
 * RFC 9207), redeems the code with the PKCE verifier, verifies the ID token (signature with the
 * provider's keys, issuer, audience, expiry, nonce) and returns who signed in, with the `resume`
 * value the login was started with.
 */
export async function finishLogin(
  provider: OidcProviderConfig,
  input: {
    query: {
      code?: string | undefined;
      state?: string | undefined;
      iss?: string | undefined;
      error?: string | undefined;
      error_description?: string | undefined;
    };
    sealedState: string | undefined;
    publicUrl: string;
    encryptionKey: EncryptionKeyInput;
    logger: Logger;
  },
): Promise<{ identity: ExternalIdentity; resume: string | undefined }> {
  const { logger } = input;
  const pending = await openPending(input.sealedState, input.encryptionKey);
  if (pending.p !== provider.id || !input.query.state || !sameString(pending.s, input.query.state)) {
    throw providerError("the state does not match this browser's login");
  }
  if (input.query.error) {
    // The code is from a closed list and safe to show; the description is the provider's free text.
    logger.warn("identity provider returned an error to the callback", {
      provider: provider.id,
      providerError: input.query.error,
      providerErrorDescription: input.query.error_description,
    });
    const code = AUTHORIZATION_ERRORS.has(input.query.error) ? input.query.error : "an unknown error";
    throw providerError(`the provider answered ${code}`);
  }
  if (!input.query.code) throw providerError("the provider sent no code");
  const discovery = await discover(provider, logger);
  if (input.query.iss !== undefined && input.query.iss !== discovery.issuer) {
    throw providerError("the response came from another issuer");
  }

  const body = new URLSearchParams({
    grant_type: "authorization_code",
    code: input.query.code,
    redirect_uri: redirectUri(input.publicUrl, provider.id),
    code_verifier: pending.v,
  });
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
    accept: "application/json",
  };
  if (provider.clientSecret) {
    // RFC 6749 §2.3.1: form-urlencode both parts before base64.
    const credentials = `${encodeURIComponent(provider.clientId)}:${encodeURIComponent(provider.clientSecret)}`;
    headers.authorization = `Basic ${btoa(credentials)}`;
  } else {
    body.set("client_id", provider.clientId);
  }
  const tokens = TokenResponse.safeParse(
    await fetchJson(discovery.token_endpoint, provider.timeoutMs, logger, { method: "POST", headers, body }),
  );
  if (!tokens.success) throw providerError("the token response has no id_token");

  const algorithms = discovery.id_token_signing_alg_values_supported.filter((alg) => ASYMMETRIC.test(alg));
  const keySet = KeySetSchema.safeParse(await fetchJson(discovery.jwks_uri, provider.timeoutMs, logger));
  if (!keySet.success) throw providerError("its key set (jwks_uri) is not a JSON Web Key Set");
  const jwks = keySet.data as JSONWebKeySet;
  let claims: z.infer<typeof ClaimsSchema>;
  try {
    const verified = await jwtVerify(tokens.data.id_token, createLocalJWKSet(jwks), {
      issuer: discovery.issuer,
      audience: provider.clientId,
      algorithms,
      clockTolerance: 30,
      requiredClaims: ["sub", "exp", "iat", "nonce"],
    });
    claims = ClaimsSchema.parse(verified.payload);
    const nonce = verified.payload.nonce;
    if (typeof nonce !== "string" || !sameString(nonce, pending.n)) throw new Error("nonce mismatch");
    // OIDC Core §3.1.3.7: with several audiences, we must be the authorized party.
    const { aud, azp } = verified.payload;
    if (Array.isArray(aud) && aud.length > 1 && azp !== provider.clientId) throw new Error("azp is not us");
  } catch (error) {
    throw providerError("the ID token is not valid", error);
  }

  // Providers that keep profile claims out of the ID token give them at the userinfo endpoint.
  if (claims.email === undefined && discovery.userinfo_endpoint && tokens.data.access_token) {
    const info = ClaimsSchema.safeParse(
      await fetchJson(discovery.userinfo_endpoint, provider.timeoutMs, logger, {
        headers: { authorization: `Bearer ${tokens.data.access_token}` },
      }),
    );
    if (!info.success || info.data.sub !== claims.sub) throw providerError("userinfo does not match the ID token");
    claims = { ...claims, ...info.data };
  }
  if (!claims.email) throw providerError("the provider gave no email address");
  // Stored in Postgres (identity, account): a claim its text cannot hold is the provider's fault,
  // named as such rather than failing the statement.
  for (const [claim, value] of [
    ["sub", claims.sub],
    ["email", claims.email],
    ["name", claims.name],
  ] as const) {
    const problem = value === undefined ? undefined : textProblem(value);
    if (problem) throw providerError(`the provider's "${claim}" claim ${problem}`);
  }
  // The account's email is what registration accepts too, so every stored address matches the
  // documented User schema; a provider's looser one (`a..b@…`, `a@localhost`, 300 characters) is
  // refused as the provider's, not stored.
  if (!PROVIDER_EMAIL.safeParse(claims.email).success) {
    throw providerError(`the provider's email address is not one this service accepts (${PROVIDER_EMAIL_RULE})`);
  }
  const identity = {
    provider: provider.id,
    subject: claims.sub,
    email: claims.email.toLowerCase(),
    emailVerified: claims.email_verified === true || claims.email_verified === "true",
    name: claims.name,
  };
  return { identity, resume: pending.r };
}
