import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { ALGORITHM, tokenManager } from "../../auth/tokens.ts";
import { PERMISSION_NAMES } from "../../db/schema/users.ts";
import type { ApiConfig } from "../../pkg/config/config.ts";
import { MFA_GRANT_TYPE } from "../auth/schemas.ts";

const JwksSchema = z
  .object({
    keys: z.array(z.object({ kty: z.string(), kid: z.string(), alg: z.string(), use: z.string() }).passthrough()),
  })
  .openapi("JWKS");

/** RFC 8414 §2 authorization server metadata (the members OpenID Connect Discovery shares with it). */
const AuthorizationServerSchema = z
  .object({
    issuer: z.string(),
    jwks_uri: z.string(),
    token_endpoint: z.string(),
    response_types_supported: z
      .array(z.string())
      .openapi({ description: "Empty: there is no authorization endpoint; tokens come from the token endpoint only." }),
    grant_types_supported: z.array(z.string()),
    token_endpoint_auth_methods_supported: z.array(z.string()),
    scopes_supported: z.array(z.string()),
    claims_supported: z.array(z.string()),
  })
  .passthrough()
  .openapi("AuthorizationServerMetadata");

const DiscoverySchema = AuthorizationServerSchema.extend({
  subject_types_supported: z.array(z.string()),
  id_token_signing_alg_values_supported: z.array(z.string()),
})
  .passthrough()
  .openapi("Discovery");

const jwks = createRoute({
  method: "get",
  path: "/.well-known/jwks.json",
  tags: ["Auth"],
  summary: "Public keys that verify our access tokens",
  description: "The current signing key and the previous one, so tokens signed just before a rotation still verify.",
  responses: { 200: { description: "JSON Web Key Set.", content: { "application/json": { schema: JwksSchema } } } },
});

const discovery = createRoute({
  method: "get",
  path: "/.well-known/openid-configuration",
  tags: ["Auth"],
  summary: "Discovery metadata (issuer, JWKS, token endpoint)",
  responses: {
    200: {
      description: "OpenID Provider / OAuth authorization server metadata.",
      content: { "application/json": { schema: DiscoverySchema } },
    },
  },
});

const authorizationServer = createRoute({
  method: "get",
  path: "/.well-known/oauth-authorization-server",
  tags: ["Auth"],
  summary: "Authorization server metadata (RFC 8414)",
  description:
    "Where OAuth clients discover the token endpoint and the keys that verify access tokens (RFC 8414 §3; the issuer has no path, so the well-known path is at the root).",
  responses: {
    200: {
      description: "OAuth 2.0 authorization server metadata.",
      content: { "application/json": { schema: AuthorizationServerSchema } },
    },
  },
});

const CACHE = { "Cache-Control": "public, max-age=300" };

/** What both metadata documents say (RFC 8414 §2). */
function authorizationServerMetadata(config: ApiConfig): z.infer<typeof AuthorizationServerSchema> {
  return {
    issuer: config.auth.tokens.issuer,
    jwks_uri: `${config.publicUrl}/.well-known/jwks.json`,
    token_endpoint: `${config.publicUrl}/auth/token`,
    response_types_supported: [],
    grant_types_supported: ["password", "refresh_token", MFA_GRANT_TYPE],
    token_endpoint_auth_methods_supported: ["none"],
    scopes_supported: PERMISSION_NAMES,
    claims_supported: ["iss", "aud", "sub", "client_id", "sid", "jti", "iat", "nbf", "exp", "role", "scope"],
  };
}

export const wellKnownRouter = createRouter()
  .openapi(jwks, async (c) => {
    const tokens = await tokenManager(c.get("services").config.auth.tokens);
    return c.json(tokens.publicJwks() as z.infer<typeof JwksSchema>, 200, CACHE);
  })
  .openapi(authorizationServer, (c) => c.json(authorizationServerMetadata(c.get("services").config), 200, CACHE))
  .openapi(discovery, (c) => {
    const metadata = authorizationServerMetadata(c.get("services").config);
    return c.json(
      { ...metadata, subject_types_supported: ["public"], id_token_signing_alg_values_supported: [ALGORITHM] },
      200,
      CACHE,
    );
  });
