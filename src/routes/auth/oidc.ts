import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { externalLogin } from "../../auth/auth-service.ts";
import { beginLogin, finishLogin, type OidcProviderConfig } from "../../auth/oidc.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { PROBLEM_CONTENT_TYPE, problemResponses } from "../../pkg/errors/problem.ts";
import { authDeps, mfaRequired, NO_STORE } from "./index.ts";
import { OAuthProblemSchema, TokenResponseSchema } from "./schemas.ts";

/** Holds the sealed state between the redirect out and the callback (HttpOnly, Secure, host-only). */
const STATE_COOKIE = "__Host-techcorp-oidc";

const ProviderParams = z.object({
  provider: z
    .string()
    .regex(/^[a-z0-9-]+$/)
    .openapi({ param: { name: "provider", in: "path" }, example: "google" }),
});

const authorize = createRoute({
  method: "get",
  path: "/auth/oidc/{provider}/authorize",
  tags: ["Auth"],
  summary: "Start a third-party login (OpenID Connect)",
  description:
    "Redirects to the provider (configured by its issuer URL, found by discovery) with an authorization-code request using PKCE (S256), `state` and `nonce`, kept in a sealed host-only cookie.",
  request: {
    params: ProviderParams,
    query: z.object({
      login_hint: z
        .string()
        .max(255)
        .optional()
        .openapi({ param: { name: "login_hint", in: "query" } }),
    }),
  },
  responses: {
    302: { description: "To the provider's authorization endpoint.", headers: z.object({ Location: z.string() }) },
    ...problemResponses(400, 404, 503),
  },
});

const callback = createRoute({
  method: "get",
  path: "/auth/oidc/{provider}/callback",
  tags: ["Auth"],
  summary: "Finish a third-party login",
  description:
    "Checks state (and `iss`), redeems the code with the PKCE verifier, verifies the ID token and its nonce, then signs in the linked user — linking or creating by email only when the provider verified it. Answers with tokens, or `mfa_required` when the account has MFA on.",
  request: {
    params: ProviderParams,
    query: z.object({
      code: z
        .string()
        .max(2048)
        .optional()
        .openapi({ param: { name: "code", in: "query" } }),
      state: z
        .string()
        .max(512)
        .optional()
        .openapi({ param: { name: "state", in: "query" } }),
      iss: z
        .string()
        .max(512)
        .optional()
        .openapi({ param: { name: "iss", in: "query" } }),
      error: z
        .string()
        .max(256)
        .optional()
        .openapi({ param: { name: "error", in: "query" } }),
      error_description: z
        .string()
        .max(1024)
        .optional()
        .openapi({ param: { name: "error_description", in: "query" } }),
    }),
  },
  responses: {
    200: { description: "Tokens.", content: { "application/json": { schema: TokenResponseSchema } } },
    403: {
      description: "`mfa_required`, or an email the provider has not verified, or a disabled account.",
      content: { [PROBLEM_CONTENT_TYPE]: { schema: OAuthProblemSchema } },
    },
    ...problemResponses(400, 404, 503),
  },
});

function providerOf(c: Context<AppEnv>, id: string): OidcProviderConfig {
  const provider = c.get("services").config.auth.oidcProviders.find((p) => p.id === id);
  if (!provider) throw new ApiError("not_found", { detail: `No login provider "${id}".` });
  return provider;
}

export const oidcRouter = createRouter()
  .openapi(authorize, async (c) => {
    const provider = providerOf(c, c.req.valid("param").provider);
    const { config } = c.get("services");
    const { location, sealedState } = await beginLogin(provider, {
      publicUrl: config.publicUrl,
      encryptionKey: config.encryptionKey,
      loginHint: c.req.valid("query").login_hint,
      logger: c.get("logger"),
    });
    setCookie(c, STATE_COOKIE, sealedState, { path: "/", secure: true, httpOnly: true, sameSite: "Lax", maxAge: 600 });
    return c.redirect(location, 302);
  })
  .openapi(callback, async (c) => {
    const provider = providerOf(c, c.req.valid("param").provider);
    const { config } = c.get("services");
    const sealedState = getCookie(c, STATE_COOKIE);
    // The state is single-use whatever happens next.
    deleteCookie(c, STATE_COOKIE, { path: "/", secure: true });
    const identity = await finishLogin(provider, {
      query: c.req.valid("query"),
      sealedState,
      publicUrl: config.publicUrl,
      encryptionKey: config.encryptionKey,
      logger: c.get("logger"),
    });
    const result = await externalLogin(authDeps(c), identity);
    if (result.kind === "mfa") throw mfaRequired(result.mfaToken);
    return c.json(result.tokens, 200, NO_STORE);
  });
