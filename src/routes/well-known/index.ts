import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { PERMISSION_NAMES } from "../../auth/permissions.ts";
import { ALGORITHM, tokenManager } from "../../auth/tokens.ts";
import { MFA_GRANT_TYPE } from "../auth/schemas.ts";

const JwksSchema = z
  .object({
    keys: z.array(z.object({ kty: z.string(), kid: z.string(), alg: z.string(), use: z.string() }).passthrough()),
  })
  .openapi("JWKS");

const DiscoverySchema = z
  .object({
    issuer: z.string(),
    jwks_uri: z.string(),
    token_endpoint: z.string(),
    grant_types_supported: z.array(z.string()),
    token_endpoint_auth_methods_supported: z.array(z.string()),
    id_token_signing_alg_values_supported: z.array(z.string()),
    scopes_supported: z.array(z.string()),
    claims_supported: z.array(z.string()),
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

const CACHE = { "Cache-Control": "public, max-age=300" };

export const wellKnownRouter = createRouter()
  .openapi(jwks, async (c) => {
    const tokens = await tokenManager(c.get("services").config.auth.tokens);
    return c.json(tokens.publicJwks() as z.infer<typeof JwksSchema>, 200, CACHE);
  })
  .openapi(discovery, (c) => {
    const { config } = c.get("services");
    return c.json(
      {
        issuer: config.auth.tokens.issuer,
        jwks_uri: `${config.publicUrl}/.well-known/jwks.json`,
        token_endpoint: `${config.publicUrl}/auth/token`,
        grant_types_supported: ["password", "refresh_token", MFA_GRANT_TYPE],
        token_endpoint_auth_methods_supported: ["none"],
        id_token_signing_alg_values_supported: [ALGORITHM],
        scopes_supported: PERMISSION_NAMES,
        claims_supported: ["iss", "aud", "sub", "sid", "jti", "iat", "nbf", "exp", "role", "scope"],
      },
      200,
      CACHE,
    );
  });
