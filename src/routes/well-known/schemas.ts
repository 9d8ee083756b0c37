import { z } from "@hono/zod-openapi";
import { MFA_GRANT_TYPE } from "../../auth/token-exchange.ts";
import { PERMISSION_NAMES } from "../../db/schema/users.ts";
import type { ApiConfig } from "../../pkg/config/config.ts";

/** Public, and the same for everyone until a key rotation: caches may keep them five minutes. */
export const CACHE = { "Cache-Control": "public, max-age=300" };

export const JwksSchema = z
  .object({
    keys: z.array(z.object({ kty: z.string(), kid: z.string(), alg: z.string(), use: z.string() }).passthrough()),
  })
  .openapi("JWKS");

/** RFC 8414 §2 authorization server metadata (the members OpenID Connect Discovery shares with it). */
export const AuthorizationServerSchema = z
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

export const DiscoverySchema = AuthorizationServerSchema.extend({
  subject_types_supported: z.array(z.string()),
  id_token_signing_alg_values_supported: z.array(z.string()),
})
  .passthrough()
  .openapi("Discovery");

/** What both metadata documents say (RFC 8414 §2). */
export function authorizationServerMetadata(config: ApiConfig): z.infer<typeof AuthorizationServerSchema> {
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
