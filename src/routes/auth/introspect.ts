import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { authenticateClient } from "../../auth/clients.ts";
import { introspectToken } from "../../auth/token-management.ts";
import { FORM_BODY, formAsJson } from "../../gateway/form-as-json.ts";
import { oauthError } from "../../pkg/errors/api-error.ts";
import { jsonBody, jsonResponse } from "../openapi.ts";
import { NO_STORE, oauthValidationHook } from "./oauth.ts";
import { oauthErrorDocs } from "./oauth-errors.ts";

const IntrospectionRequestSchema = z
  .object({
    token: z.string().min(1).max(4096),
    token_type_hint: z.string().max(64).optional(),
  })
  .openapi("IntrospectionRequest");

const IntrospectionSchema = z
  .object({
    active: z.boolean(),
    scope: z.string().optional(),
    client_id: z.string().optional(),
    token_type: z.string().optional(),
    sub: z.string().optional(),
    sid: z.string().optional(),
    iss: z.string().optional(),
    aud: z.string().optional(),
    exp: z.number().int().optional(),
    iat: z.number().int().optional(),
    jti: z.string().optional(),
    role: z.string().optional(),
  })
  .openapi("Introspection");

const route = createRoute({
  method: "post",
  path: "/auth/introspect",
  tags: ["Auth"],
  summary: "Introspect a token (RFC 7662), for resource servers",
  description:
    'Confidential clients only (`client_secret_basic`; a public client is `invalid_client`). `active` is true only for an access token that verifies and whose session is alive now, a refresh token that is its session\'s current one, or an unrevoked, unexpired API key of an active owner (`token_type: "api_key"`, `scope` its rights now, `sub`, `exp`, `role`); then `scope` (what its requests hold now), `client_id`, `sub`, `sid`, `exp`… Anything else (expired, revoked, session ended, unknown) is `{"active": false}`.',
  middleware: [formAsJson()] as const,
  [FORM_BODY]: true,
  request: { body: jsonBody(IntrospectionRequestSchema) },
  responses: {
    200: jsonResponse("The token's state.", IntrospectionSchema),
    ...oauthErrorDocs(400, 401, 413, 415, 429, 503),
  },
});

export const introspect = createRouter().openapi(
  route,
  async (c) => {
    const body = c.req.valid("json");
    const { config } = c.get("services");
    const authorization = c.req.header("authorization");
    if (authorization === undefined) {
      throw oauthError(
        "unauthorized",
        "invalid_client",
        "Introspection needs client authentication (client_secret_basic).",
        {
          headers: { "WWW-Authenticate": 'Basic realm="techcorp-oauth"' },
        },
      );
    }
    await authenticateClient(config.auth, { authorization });
    const deps = { config, sessions: c.env.SESSIONS, http: c.get("services").database.http };
    return c.json(await introspectToken(deps, body.token), 200, NO_STORE);
  },
  oauthValidationHook,
);
