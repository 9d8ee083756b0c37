import { createRouter } from "../../app/create-app.ts";
import { revokeApiKey } from "../../auth/api-keys.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { protectedRoute } from "../openapi.ts";
import { requestOrigin } from "../request-origin.ts";
import { apiKeyDeps } from "./deps.ts";
import { ApiKeyIdParams, INTERACTIVE } from "./schemas.ts";

const route = protectedRoute(
  "caller",
  {
    method: "delete",
    path: "/api-keys/{id}",
    tags: ["API keys"],
    summary: "Revoke one of the caller's API keys",
    description: `Refused from the next request on; the record stays listed as revoked. Revoking a revoked key succeeds again. ${INTERACTIVE}`,
    request: { params: ApiKeyIdParams },
    responses: { 204: { description: "Revoked." }, ...problemResponses(400, 404, 503) },
  },
  { interactiveOnly: true },
);

export const revokeOwnApiKey = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const { userId, actor } = callerOf(c);
  const revoked = await revokeApiKey(apiKeyDeps(c), { actor, actorId: userId, userId, id, origin: requestOrigin(c) });
  if (!revoked) throw new ApiError("not_found", { detail: `You have no API key ${id}.` });
  return c.body(null, 204);
});
