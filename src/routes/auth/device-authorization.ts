import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { authenticateClient, requireGrant } from "../../auth/clients.ts";
import { DEVICE_GRANT_TYPE, startDeviceAuthorization } from "../../auth/device-grant.ts";
import { FORM_BODY, formAsJson } from "../../gateway/form-as-json.ts";
import { jsonBody, jsonResponse, publicRoute } from "../openapi.ts";
import { authDeps } from "./deps.ts";
import { NO_STORE, oauthValidationHook } from "./oauth.ts";
import { oauthErrorDocs } from "./oauth-errors.ts";

const DeviceAuthorizationRequestSchema = z
  .object({
    client_id: z.string().min(1).max(255).openapi({ example: "techcorp-cli" }),
    scope: z.string().max(2048).optional().openapi({ example: "openid profile" }),
  })
  .openapi("DeviceAuthorizationRequest");

const DeviceAuthorizationSchema = z
  .object({
    device_code: z.string(),
    user_code: z.string().openapi({ example: "WDJB-MJHT" }),
    verification_uri: z.string(),
    verification_uri_complete: z.string(),
    expires_in: z.number().int().openapi({ example: 600 }),
    interval: z.number().int().openapi({ example: 5 }),
  })
  .openapi("DeviceAuthorization");

// Each request creates an object; the user codes it hands out are short (guesses must stay few).
const route = publicRoute("auth", {
  method: "post",
  path: "/auth/device_authorization",
  tags: ["Auth"],
  summary: "Device authorization request (RFC 8628), for the CLI",
  description:
    "A client registered for the device grant (the CLI) gets a `device_code` and a `user_code`; the person signs in at `verification_uri` (`/auth/device`) and enters the code, while the device polls the token endpoint with `grant_type=urn:ietf:params:oauth:grant-type:device_code`: `authorization_pending` until then, `slow_down` (and 5 s more interval) when polled faster than `interval`, `access_denied`, `expired_token` after `expires_in` (600 s).",
  middleware: [formAsJson()] as const,
  [FORM_BODY]: true,
  request: { body: jsonBody(DeviceAuthorizationRequestSchema) },
  responses: {
    200: jsonResponse("The codes.", DeviceAuthorizationSchema),
    ...oauthErrorDocs(400, 401, 413, 415, 429, 503),
  },
});

export const authorizeDevice = createRouter().openapi(
  route,
  async (c) => {
    const body = c.req.valid("json");
    const deps = authDeps(c);
    const client = await authenticateClient(deps.config.auth, {
      clientId: body.client_id,
      authorization: c.req.header("authorization"),
    });
    requireGrant(client, DEVICE_GRANT_TYPE);
    return c.json(await startDeviceAuthorization(deps, client, body.scope), 200, NO_STORE);
  },
  oauthValidationHook,
);
