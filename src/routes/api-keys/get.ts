import { createRouter } from "../../app/create-app.ts";
import { readApiKey } from "../../auth/api-keys.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { apiKeyDeps } from "./deps.ts";
import { ApiKeyIdParams, ApiKeySchema, INTERACTIVE, toApiKeyJson } from "./schemas.ts";

const route = protectedRoute(
  "caller",
  {
    method: "get",
    path: "/api-keys/{id}",
    tags: ["API keys"],
    summary: "One of the caller's API keys",
    description: `Its record and last use; the key itself is never shown again. ${INTERACTIVE}`,
    request: { params: ApiKeyIdParams },
    responses: { 200: jsonResponse("The key's record.", ApiKeySchema), ...problemResponses(400, 404, 503) },
  },
  { interactiveOnly: true, showsKeyUsage: true },
);

export const readOwnApiKey = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const { userId, actor } = callerOf(c);
  const key = await readApiKey(apiKeyDeps(c), { actor, userId, id, usage: c.get("keyUsage") });
  if (!key) throw new ApiError("not_found", { detail: `You have no API key ${id}.` });
  return c.json(toApiKeyJson(key), 200);
});
