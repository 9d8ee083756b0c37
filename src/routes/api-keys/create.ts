import { createRouter } from "../../app/create-app.ts";
import { createApiKey } from "../../auth/api-keys.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonBody, jsonResponse, protectedRoute } from "../openapi.ts";
import { requestOrigin } from "../request-origin.ts";
import { apiKeyDeps } from "./deps.ts";
import { CreateApiKeySchema, CreatedApiKeySchema, INTERACTIVE, toApiKeyJson } from "./schemas.ts";

const route = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/api-keys",
    tags: ["API keys"],
    summary: "Create an API key (shown once)",
    description: `A personal access token, or with \`projectId\` a service key bound to one project of which the caller is a member. Scopes beyond what the caller holds are a 403; an \`expiresAt\` in the past or beyond \`API_KEY_MAX_LIFETIME_DAYS\` a 400; past \`API_KEYS_PER_USER\` unrevoked keys a 409. ${INTERACTIVE}`,
    request: { body: jsonBody(CreateApiKeySchema) },
    responses: {
      201: jsonResponse("Created; keep the key, it is never shown again.", CreatedApiKeySchema),
      ...problemResponses(400, 404, 409, 415, 503),
    },
  },
  { interactiveOnly: true },
);

export const addApiKey = createRouter().openapi(route, async (c) => {
  const body = c.req.valid("json");
  const caller = callerOf(c);
  const { record, key } = await createApiKey(apiKeyDeps(c), {
    actor: caller.actor,
    userId: caller.userId,
    held: caller.permissions,
    name: body.name,
    scopes: body.scopes,
    projectId: body.projectId,
    expiresAt: body.expiresAt === undefined ? undefined : new Date(body.expiresAt),
    origin: requestOrigin(c),
  });
  const json = { ...toApiKeyJson({ ...record, lastUsedAt: null, lastUsedIp: null }), key };
  return c.json(json, 201, { Location: `/api-keys/${record.id}`, "Cache-Control": "no-store" });
});
