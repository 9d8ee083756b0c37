import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { authenticateClient } from "../../auth/clients.ts";
import { revokeToken } from "../../auth/token-management.ts";
import { FORM_BODY, formAsJson } from "../../gateway/form-as-json.ts";
import { jsonBody } from "../openapi.ts";
import { requestOrigin } from "../request-origin.ts";
import { NO_STORE, oauthValidationHook } from "./oauth.ts";
import { oauthErrorDocs } from "./oauth-errors.ts";

const RevocationRequestSchema = z
  .object({
    token: z.string().min(1).max(4096),
    token_type_hint: z
      .string()
      .max(64)
      .optional()
      .openapi({ description: "`access_token` or `refresh_token` (only a hint)." }),
    client_id: z.string().min(1).max(255).optional().openapi({ description: "A public client's id." }),
  })
  .openapi("RevocationRequest");

const route = createRoute({
  method: "post",
  path: "/auth/revoke",
  tags: ["Auth"],
  summary: "Revoke a token (RFC 7009)",
  description:
    "A refresh token ends its session; an access token ends its session too (by its `sid`), so neither it nor the session's refresh token works after. A public client names itself with `client_id`, a confidential one authenticates with `client_secret_basic`; only the client's own tokens are revoked. An API key (`tcp_…`) is revoked for whoever presents it, any client (the holder may revoke, RFC 7009 §2.1). An unknown, invalid or foreign token is answered 200 all the same (RFC 7009 §2.2). Errors are RFC 6749 §5.2 JSON, as at the token endpoint.",
  middleware: [formAsJson()] as const,
  [FORM_BODY]: true,
  request: { body: jsonBody(RevocationRequestSchema) },
  responses: {
    200: { description: "Revoked, or nothing to revoke." },
    ...oauthErrorDocs(400, 401, 413, 415, 429, 503),
  },
});

export const revoke = createRouter().openapi(
  route,
  async (c) => {
    const body = c.req.valid("json");
    const { config } = c.get("services");
    const client = await authenticateClient(config.auth, {
      clientId: body.client_id,
      authorization: c.req.header("authorization"),
    });
    const { database } = c.get("services");
    await revokeToken({ config, sessions: c.env.SESSIONS, http: database.http }, client, body.token, requestOrigin(c));
    return c.body(null, 200, NO_STORE);
  },
  oauthValidationHook,
);
