import { createRoute } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { ALGORITHM } from "../../auth/tokens.ts";
import { jsonResponse } from "../openapi.ts";
import { AuthorizationServerSchema, authorizationServerMetadata, CACHE, DiscoverySchema } from "./schemas.ts";

const authorizationServerRoute = createRoute({
  method: "get",
  path: "/.well-known/oauth-authorization-server",
  tags: ["Auth"],
  summary: "Authorization server metadata (RFC 8414)",
  description:
    "Where OAuth clients discover the token endpoint and the keys that verify access tokens (RFC 8414 §3; the issuer has no path, so the well-known path is at the root).",
  responses: { 200: jsonResponse("OAuth 2.0 authorization server metadata.", AuthorizationServerSchema) },
});

const serveAuthorizationServer = createRouter().openapi(authorizationServerRoute, (c) =>
  c.json(authorizationServerMetadata(c.get("services").config), 200, CACHE),
);

const discoveryRoute = createRoute({
  method: "get",
  path: "/.well-known/openid-configuration",
  tags: ["Auth"],
  summary: "Discovery metadata (issuer, JWKS, token endpoint)",
  responses: { 200: jsonResponse("OpenID Provider / OAuth authorization server metadata.", DiscoverySchema) },
});

const serveDiscovery = createRouter().openapi(discoveryRoute, (c) => {
  const metadata = authorizationServerMetadata(c.get("services").config);
  return c.json(
    { ...metadata, subject_types_supported: ["public"], id_token_signing_alg_values_supported: [ALGORITHM] },
    200,
    CACHE,
  );
});

/** The issuer's metadata: RFC 8414 (OAuth) and OpenID Connect Discovery 1.0 §4, the same members and more. */
export const serveMetadata = createRouter().route("/", serveAuthorizationServer).route("/", serveDiscovery);
