import { createRouter } from "../../app/create-app.ts";
import { listApiKeys } from "../../auth/api-keys.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { apiKeyDeps } from "./deps.ts";
import { ApiKeyListSchema, INTERACTIVE, toApiKeyJson } from "./schemas.ts";

const route = protectedRoute(
  "caller",
  {
    method: "get",
    path: "/api-keys",
    tags: ["API keys"],
    summary: "The caller's API keys",
    description: `Newest first, revoked ones included, each with its last use (time and client address), never the key itself. ${INTERACTIVE}`,
    responses: { 200: jsonResponse("The keys.", ApiKeyListSchema), ...problemResponses(503) },
  },
  { interactiveOnly: true, showsKeyUsage: true },
);

export const listOwnApiKeys = createRouter().openapi(route, async (c) => {
  const { userId, actor } = callerOf(c);
  const keys = await listApiKeys(apiKeyDeps(c), { actor, userId, usage: c.get("keyUsage") });
  return c.json({ data: keys.map(toApiKeyJson) }, 200);
});
