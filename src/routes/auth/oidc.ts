import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { externalLogin } from "../../auth/auth-service.ts";
import { beginLogin, finishLogin, type OidcProviderConfig } from "../../auth/oidc.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { PROBLEM_CONTENT_TYPE, problemResponses } from "../../pkg/errors/problem.ts";
import { resumeAuthorization } from "./authorize.ts";
import { authDeps } from "./deps.ts";
import { mfaRequired, NO_STORE } from "./oauth.ts";
import {
  OAuthProblemSchema,
  OidcAuthorizeQuery,
  OidcCallbackQuery,
  ProviderParams,
  TokenResponseSchema,
} from "./schemas.ts";

/** Holds the sealed state between the redirect out and the callback (HttpOnly, Secure, host-only). */
const STATE_COOKIE = "__Host-techcorp-oidc";

function providerOf(c: Context<AppEnv>, id: string): OidcProviderConfig {
  const provider = c.get("services").config.auth.oidcProviders.find((p) => p.id === id);
  if (!provider) throw new ApiError("not_found", { detail: `No login provider "${id}".` });
  return provider;
}

const authorizeRoute = createRoute({
  method: "get",
  path: "/auth/oidc/{provider}/authorize",
  tags: ["Auth"],
  summary: "Start a third-party login (OpenID Connect)",
  description:
    "Redirects to the provider (configured by its issuer URL, found by discovery) with an authorization-code request using PKCE (S256), `state` and `nonce`, kept in a sealed host-only cookie. With `return_to` (the authorization endpoint's sign-in page links here with it), the callback resumes that authorization request instead of answering tokens.",
  request: { params: ProviderParams, query: OidcAuthorizeQuery },
  responses: {
    302: { description: "To the provider's authorization endpoint.", headers: z.object({ Location: z.string() }) },
    ...problemResponses(400, 404, 503),
  },
});

const startOidcLogin = createRouter().openapi(authorizeRoute, async (c) => {
  const provider = providerOf(c, c.req.valid("param").provider);
  const { config } = c.get("services");
  const { location, sealedState } = await beginLogin(provider, {
    publicUrl: config.publicUrl,
    encryptionKey: config.encryptionKey,
    loginHint: c.req.valid("query").login_hint,
    resume: c.req.valid("query").return_to,
    logger: c.get("logger"),
  });
  setCookie(c, STATE_COOKIE, sealedState, { path: "/", secure: true, httpOnly: true, sameSite: "Lax", maxAge: 600 });
  return c.redirect(location, 302);
});

const callbackRoute = createRoute({
  method: "get",
  path: "/auth/oidc/{provider}/callback",
  tags: ["Auth"],
  summary: "Finish a third-party login",
  description:
    "Checks state (and `iss`), redeems the code with the PKCE verifier, verifies the ID token and its nonce, then signs in the linked user — linking or creating by email only when the provider verified it. Answers with tokens, or `mfa_required` when the account has MFA on. A login started from the authorization endpoint's sign-in page (`return_to`) resumes its authorization request instead: a 303 to the client's redirect URI with the code (and the single sign-on cookie), or the sign-in page at its second-factor step, or saying why the account could not be signed in.",
  request: { params: ProviderParams, query: OidcCallbackQuery },
  responses: {
    200: {
      description: "Tokens; or, resuming an authorization request, the sign-in page (HTML).",
      content: {
        "application/json": { schema: TokenResponseSchema },
        "text/html": { schema: z.string() },
      },
    },
    303: {
      description: "Resuming an authorization request: to the client's redirect URI with `code`, `state` and `iss`.",
      headers: z.object({ Location: z.string() }),
    },
    403: {
      description: "`mfa_required`, or an email the provider has not verified, or a disabled account.",
      content: { [PROBLEM_CONTENT_TYPE]: { schema: OAuthProblemSchema } },
    },
    ...problemResponses(400, 404, 503),
  },
});

const finishOidcLogin = createRouter().openapi(callbackRoute, async (c) => {
  const provider = providerOf(c, c.req.valid("param").provider);
  const { config } = c.get("services");
  const sealedState = getCookie(c, STATE_COOKIE);
  // The state is single-use whatever happens next.
  deleteCookie(c, STATE_COOKIE, { path: "/", secure: true });
  const { identity, resume } = await finishLogin(provider, {
    query: c.req.valid("query"),
    sealedState,
    publicUrl: config.publicUrl,
    encryptionKey: config.encryptionKey,
    logger: c.get("logger"),
  });
  if (resume !== undefined) return resumeAuthorization(c, resume, identity);
  const result = await externalLogin(authDeps(c), identity);
  if (result.kind === "mfa") throw mfaRequired(result.mfaToken);
  return c.json(result.tokens, 200, NO_STORE);
});

/** `/auth/oidc/{provider}`: third-party login (OpenID Connect authorization code flow with PKCE). */
export const logInWithOidc = createRouter().route("/", startOidcLogin).route("/", finishOidcLogin);
