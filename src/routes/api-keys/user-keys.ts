import { createRouter } from "../../app/create-app.ts";
import { listApiKeys, revokeApiKey } from "../../auth/api-keys.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { requestOrigin } from "../request-origin.ts";
import { apiKeyDeps } from "./deps.ts";
import { ApiKeyListSchema, INTERACTIVE, toApiKeyJson, UserApiKeyParams, UserIdParams } from "./schemas.ts";

const listRoute = protectedRoute(
  "admin",
  {
    method: "get",
    path: "/users/{id}/api-keys",
    tags: ["API keys"],
    summary: "A user's API keys (administrators)",
    description: `As \`GET /api-keys\` shows them to their owner; an unknown user has none. ${INTERACTIVE}`,
    request: { params: UserIdParams },
    responses: { 200: jsonResponse("The keys.", ApiKeyListSchema), ...problemResponses(400, 503) },
  },
  { interactiveOnly: true },
);

const listUserApiKeys = createRouter().openapi(listRoute, async (c) => {
  const { id } = c.req.valid("param");
  const keys = await listApiKeys(apiKeyDeps(c), { actor: callerOf(c).actor, userId: id });
  return c.json({ data: keys.map(toApiKeyJson) }, 200);
});

const revokeRoute = protectedRoute(
  "admin",
  {
    method: "delete",
    path: "/users/{id}/api-keys/{keyId}",
    tags: ["API keys"],
    summary: "Revoke a user's API key (administrators)",
    description: `Refused from the next request on; recorded as \`api_key.revoked\` with the administrator as actor. ${INTERACTIVE}`,
    request: { params: UserApiKeyParams },
    responses: { 204: { description: "Revoked." }, ...problemResponses(400, 404, 503) },
  },
  { interactiveOnly: true },
);

const revokeUserApiKey = createRouter().openapi(revokeRoute, async (c) => {
  const { id, keyId } = c.req.valid("param");
  const { actor, userId } = callerOf(c);
  const origin = requestOrigin(c);
  const revoked = await revokeApiKey(apiKeyDeps(c), { actor, actorId: userId, userId: id, id: keyId, origin });
  if (!revoked) throw new ApiError("not_found", { detail: `User ${id} has no API key ${keyId}.` });
  return c.body(null, 204);
});

/** Administrators' view of anyone's keys: `/users/{id}/api-keys`. */
export const userApiKeysRouter = createRouter().route("/", listUserApiKeys).route("/", revokeUserApiKey);
