import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { externalSignIn } from "../../auth/auth-service.ts";
import {
  AUTHORIZATION_PARAMETERS,
  type AuthorizationParameters,
  type AuthorizationRequest,
  authorizationResponse,
  checkAuthorizationRequest,
  demandsSignIn,
  issueAuthorizationCode,
  issueCodeBySso,
  refusal,
} from "../../auth/authorization-code.ts";
import type { ExternalIdentity } from "../../auth/oidc.ts";
import { FORM_BODY, formAsJson } from "../../gateway/form-as-json.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonBody, publicRoute } from "../openapi.ts";
import { checkCsrf, csrfToken } from "./csrf.ts";
import { authDeps } from "./deps.ts";
import { setSsoCookie, signIn as signInStep, ssoCookie } from "./sign-in.ts";
import { redirectSource, renderSignInPage, type SignInPage, signInPolicy } from "./sign-in-page.ts";

const text = (max: number) => z.string().max(max).optional();

/** The authorization request's parameters (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID Connect Core §3.1.2.1). */
const authorizationFields = {
  response_type: text(64).openapi({ description: "`code`.", example: "code" }),
  client_id: text(255).openapi({ description: "A client registered for the authorization code grant." }),
  redirect_uri: text(2048).openapi({ description: "One of the client's registered redirect URIs, exactly." }),
  scope: text(2048).openapi({ description: "Space-separated; what is granted is this ∩ what the user holds." }),
  state: text(1024),
  code_challenge: text(128).openapi({ description: "RFC 7636 S256 challenge (required)." }),
  code_challenge_method: text(16).openapi({ description: "`S256` (required; `plain` is refused)." }),
  nonce: text(512).openapi({ description: "Returned in the ID token (OpenID Connect)." }),
  prompt: text(64).openapi({
    description:
      "OpenID Connect: `none` (no page: the code from the browser's single sign-on session, or `login_required`), `login` (always the sign-in form). `consent` and `select_account` are answered `consent_required` and `account_selection_required`.",
  }),
  max_age: text(16).openapi({
    description:
      "OpenID Connect: seconds; a single sign-on session signed in longer ago is not used (`0`: as `prompt=login`).",
  }),
  response_mode: text(32).openapi({ description: "`query` (the only mode; another is `invalid_request`)." }),
};

const AuthorizeQuery = z.object(
  Object.fromEntries(
    Object.entries(authorizationFields).map(([name, schema]) => [
      name,
      schema.openapi({ param: { name, in: "query" } }),
    ]),
  ) as typeof authorizationFields,
);

const SignInForm = z
  .object({
    ...authorizationFields,
    csrf: text(64),
    decision: z.enum(["approve", "deny"]).optional(),
    username: text(255),
    password: text(1024),
    mfa_token: text(4096),
    otp: text(6),
    recovery_code: text(64),
  })
  .openapi("SignInForm");

const HTML = { "text/html": { schema: z.string() } };

/**
 * `same-origin`: the page's address (the authorization request) never goes to another site, while
 * its own form's post keeps its `Origin`, which `checkCsrf` reads (under `no-referrer` a browser
 * sends `Origin: null`: Fetch, "serializing a request origin").
 */
const PAGE_HEADERS = { "Cache-Control": "no-store", "Referrer-Policy": "same-origin" };

function page(
  c: Context<AppEnv>,
  request: AuthorizationRequest,
  parameters: AuthorizationParameters,
  content: Omit<SignInPage, "clientName" | "action" | "hidden" | "providers"> & { hidden?: Record<string, string> },
) {
  c.header("Content-Security-Policy", signInPolicy(redirectSource(request.redirectUri)));
  for (const [name, value] of Object.entries(PAGE_HEADERS)) c.header(name, value);
  const hidden = { ...carried(parameters), csrf: csrfToken(c), ...content.hidden };
  const providers = content.step === "password" ? providerLinks(c, parameters) : [];
  return c.html(
    renderSignInPage({ clientName: request.client.name, action: "/auth/authorize", ...content, hidden, providers }),
    200,
  );
}

/** The request's parameters, carried as hidden fields through the form's steps. */
const carried = (parameters: AuthorizationParameters) =>
  Object.fromEntries(AUTHORIZATION_PARAMETERS.map((name) => [name, parameters[name]]));

/**
 * The sign-in page's third-party logins: each provider's start (`/auth/oidc/{id}/authorize`), with
 * this authorization request to resume once the provider has answered (`return_to`).
 */
function providerLinks(c: Context<AppEnv>, parameters: AuthorizationParameters) {
  const query = new URLSearchParams();
  for (const name of AUTHORIZATION_PARAMETERS) {
    const value = parameters[name];
    if (value !== undefined) query.append(name, value);
  }
  const returnTo = encodeURIComponent(`/auth/authorize?${query}`);
  return c.get("services").config.auth.oidcProviders.map((provider) => ({
    name: provider.name ?? provider.id,
    href: `/auth/oidc/${provider.id}/authorize?return_to=${returnTo}`,
  }));
}

const getRoute = createRoute({
  method: "get",
  path: "/auth/authorize",
  tags: ["Auth"],
  summary: "Authorization endpoint (OAuth 2 authorization code with PKCE, OpenID Connect)",
  description:
    "RFC 6749 §4.1.1 with RFC 7636 (PKCE, `S256` only: a missing challenge or `plain` is refused) and OpenID Connect Core §3.1.2. A browser with a live single sign-on session (the `__Host-techcorp-sso` cookie a sign-in on this page or the device page set) gets the code at once (no consent page: the clients are first-party), unless `prompt=login`, or `max_age` is older than its sign-in; otherwise the sign-in page (password, then a TOTP or recovery code when MFA is on), or `login_required` for `prompt=none`. An unknown client or a redirect URI that is not exactly one registered for it (a native client's loopback URI at any port, RFC 8252 §7.3) is a 400 problem, never a redirect; any later error goes back to the redirect URI with `error`, `state` and `iss` (RFC 9207).",
  request: { query: AuthorizeQuery },
  responses: {
    200: { description: "The sign-in page (HTML, no script, strict CSP).", content: HTML },
    302: {
      description:
        "To the client's redirect URI: the `code` (single sign-on), or an error (`error`, `error_description`); `state` and `iss`.",
      headers: z.object({ Location: z.string() }),
    },
    ...problemResponses(400),
  },
});

/** The parameters as sent, and the names of those sent more than once (RFC 6749 §3.1: refused). */
function queryParameters(url: string): { parameters: AuthorizationParameters; repeated: Set<string> } {
  const search = new URL(url).searchParams;
  const parameters: AuthorizationParameters = {};
  const repeated = new Set<string>();
  for (const name of AUTHORIZATION_PARAMETERS) {
    const values = search.getAll(name).filter((value) => value !== "");
    if (values.length > 1) repeated.add(name);
    parameters[name] = values[0];
  }
  return { parameters, repeated };
}

const showSignIn = createRouter().openapi(getRoute, async (c) => {
  c.req.valid("query");
  const { config } = c.get("services");
  const issuer = config.auth.tokens.issuer;
  const { parameters, repeated } = queryParameters(c.req.url);
  const checked = checkAuthorizationRequest(config.auth, parameters, repeated);
  if (!checked.ok) return c.redirect(authorizationResponse(issuer, checked.redirect), 302);
  const request = checked.request;
  // Single sign-on (OpenID Connect Core §3.1.2.3): a browser signed in already gets the code
  // without the form, unless the client asks for a sign-in. One call to the user's SESSIONS object.
  const sso = demandsSignIn(request) ? undefined : ssoCookie(c);
  const code = sso ? await issueCodeBySso(authDeps(c), sso, request) : undefined;
  if (code) {
    c.header("Cache-Control", "no-store");
    return c.redirect(authorizationResponse(issuer, { ...request, code }), 302);
  }
  if (request.prompt === "none") {
    const description = "The user is not signed in (or not recently enough for max_age); no page may be shown.";
    return c.redirect(authorizationResponse(issuer, refusal(request, "login_required", description)), 302);
  }
  return page(c, request, parameters, { step: "password" });
});

// The sign-in form takes passwords and second-factor codes.
const postRoute = publicRoute("auth", {
  method: "post",
  path: "/auth/authorize",
  tags: ["Auth"],
  summary: "Sign in on the authorization endpoint (the sign-in page's form)",
  description:
    "The sign-in page posts here: the authorization request again, the CSRF token (a host-only `SameSite=Strict` cookie's value; a post from another origin is refused), and the password, or the `mfa_token` and a code for an account with MFA on. Guesses are throttled as at the token endpoint. On success, the browser's single sign-on cookie (`__Host-techcorp-sso`: HttpOnly, Secure, SameSite=Lax, as long as a session of the user's may live) and a 303 to the redirect URI with a single-use `code` (60 s, bound to the client, redirect URI, PKCE challenge, scope and nonce), `state` and `iss`; `decision=deny` sends `access_denied` instead.",
  middleware: [formAsJson()] as const,
  [FORM_BODY]: true,
  request: { body: jsonBody(SignInForm) },
  responses: {
    200: {
      description:
        "The next step (the second factor), or the form again saying what went wrong (wrong credentials, too many attempts): the page is the user's, not an API error.",
      content: HTML,
    },
    303: {
      description: "To the client's redirect URI with `code` (or `error`), `state` and `iss`.",
      headers: z.object({ Location: z.string() }),
    },
    ...problemResponses(400, 403, 413, 415, 503),
  },
});

const signIn = createRouter().openapi(postRoute, async (c) => {
  const form = c.req.valid("json");
  const { config } = c.get("services");
  const parameters = carried(form) as AuthorizationParameters;
  const checked = checkAuthorizationRequest(config.auth, parameters, new Set(), "body");
  const issuer = config.auth.tokens.issuer;
  if (!checked.ok) return c.redirect(authorizationResponse(issuer, checked.redirect), 303);
  checkCsrf(c, form.csrf);
  const request = checked.request;
  if (form.decision === "deny") {
    return c.redirect(authorizationResponse(issuer, refusal(request, "access_denied", "The user declined.")), 303);
  }
  const deps = authDeps(c);
  const step = await signInStep(deps, form);
  if (step.kind === "form") {
    const hidden: Record<string, string> = step.mfaToken ? { mfa_token: step.mfaToken } : {};
    return page(c, request, parameters, { step: step.step, hidden, error: step.error });
  }
  const { code, sso } = await issueAuthorizationCode(deps, step.user, request, step.authentication, ssoCookie(c));
  setSsoCookie(c, sso);
  return c.redirect(authorizationResponse(issuer, { ...request, code }), 303);
});

const epochSeconds = () => Math.floor(Date.now() / 1000);

/**
 * Resumes an authorization request after the third-party login its sign-in page started
 * (`providerLinks`; `resume` is the request's `/auth/authorize?…` address, sealed with the login's
 * state): the request is checked again, then, as after a password, the code and the single sign-on
 * session (`amr` `fed`, OpenID Connect Core §2, RFC 8176), or the second-factor step for an
 * account with MFA on. A login the provider's answer cannot complete (an unverified email, a
 * disabled account) is the sign-in page again, saying why.
 *
 * @throws ApiError `validation_failed` for a request whose client or redirect URI is not valid (as
 *   `checkAuthorizationRequest`); DependencyError (503) when Postgres or SESSIONS is unreachable
 */
export async function resumeAuthorization(c: Context<AppEnv>, resume: string, identity: ExternalIdentity) {
  const { config } = c.get("services");
  const issuer = config.auth.tokens.issuer;
  const { parameters, repeated } = queryParameters(new URL(resume, config.publicUrl).href);
  const checked = checkAuthorizationRequest(config.auth, parameters, repeated);
  if (!checked.ok) return c.redirect(authorizationResponse(issuer, checked.redirect), 303);
  const request = checked.request;
  const deps = authDeps(c);
  const signedIn = await externalSignIn(deps, identity).catch((error: unknown) => {
    if (error instanceof ApiError && (error.code === "forbidden" || error.code === "conflict")) return error;
    throw error;
  });
  if (signedIn instanceof ApiError) return page(c, request, parameters, { step: "password", error: signedIn.detail });
  if (signedIn.kind === "mfa") {
    return page(c, request, parameters, { step: "second-factor", hidden: { mfa_token: signedIn.mfaToken } });
  }
  const authentication = { amr: ["fed"], provider: identity.provider, authTime: epochSeconds() };
  const { code, sso } = await issueAuthorizationCode(deps, signedIn.user, request, authentication, ssoCookie(c));
  setSsoCookie(c, sso);
  c.header("Cache-Control", "no-store");
  return c.redirect(authorizationResponse(issuer, { ...request, code }), 303);
}

/** `/auth/authorize`: the authorization endpoint, its sign-in page and the form it posts. */
export const authorize = createRouter().route("/", showSignIn).route("/", signIn);
