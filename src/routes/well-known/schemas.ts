import { z } from "@hono/zod-openapi";
import { PROMPT_VALUES } from "../../auth/authorization-code.ts";
import { SUPPORTED_SCOPES } from "../../auth/scopes.ts";
import { type ApiConfig, CLIENT_GRANT_TYPES } from "../../pkg/config/config.ts";

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
    authorization_endpoint: z.string(),
    token_endpoint: z.string(),
    jwks_uri: z.string(),
    userinfo_endpoint: z.string(),
    revocation_endpoint: z.string(),
    introspection_endpoint: z.string(),
    device_authorization_endpoint: z.string(),
    response_types_supported: z.array(z.string()),
    response_modes_supported: z.array(z.string()),
    prompt_values_supported: z.array(z.string()),
    grant_types_supported: z.array(z.string()),
    code_challenge_methods_supported: z.array(z.string()),
    token_endpoint_auth_methods_supported: z.array(z.string()),
    revocation_endpoint_auth_methods_supported: z.array(z.string()),
    introspection_endpoint_auth_methods_supported: z.array(z.string()),
    scopes_supported: z.array(z.string()),
    claims_supported: z.array(z.string()),
    authorization_response_iss_parameter_supported: z.boolean(),
  })
  .passthrough()
  .openapi("AuthorizationServerMetadata");

export const DiscoverySchema = AuthorizationServerSchema.extend({
  subject_types_supported: z.array(z.string()),
  id_token_signing_alg_values_supported: z.array(z.string()),
})
  .passthrough()
  .openapi("Discovery");

/** What both metadata documents say (RFC 8414 §2; RFC 9207 §3 for `authorization_response_iss_parameter_supported`). */
export function authorizationServerMetadata(config: ApiConfig): z.infer<typeof AuthorizationServerSchema> {
  const at = (path: string) => `${config.publicUrl}${path}`;
  const grants = new Set(config.auth.clients.flatMap((client) => client.grantTypes));
  return {
    issuer: config.auth.tokens.issuer,
    authorization_endpoint: at("/auth/authorize"),
    token_endpoint: at("/auth/token"),
    jwks_uri: at("/.well-known/jwks.json"),
    userinfo_endpoint: at("/auth/userinfo"),
    revocation_endpoint: at("/auth/revoke"),
    introspection_endpoint: at("/auth/introspect"),
    device_authorization_endpoint: at("/auth/device_authorization"),
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    // OpenID Connect Prompt Create 1.0 §4.1 defines this member; `none` and `login` are served.
    prompt_values_supported: [...PROMPT_VALUES],
    grant_types_supported: CLIENT_GRANT_TYPES.filter((grant) => grants.has(grant)),
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["none", "client_secret_basic"],
    revocation_endpoint_auth_methods_supported: ["none", "client_secret_basic"],
    introspection_endpoint_auth_methods_supported: ["client_secret_basic"],
    scopes_supported: [...SUPPORTED_SCOPES],
    claims_supported: [
      ...["iss", "aud", "sub", "exp", "iat", "auth_time", "nonce", "amr", "at_hash", "sid"],
      ...["name", "preferred_username", "updated_at", "email", "email_verified"],
      ...["client_id", "jti", "nbf", "role", "scope"],
    ],
    authorization_response_iss_parameter_supported: true,
  };
}
