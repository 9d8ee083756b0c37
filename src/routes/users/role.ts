import { createRouter } from "../../app/create-app.ts";
import { changeAccount } from "../../auth/accounts.ts";
import { REQUIRED_PERMISSION } from "../../auth/grant-rules.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalWriteHeaders } from "../conditional.ts";
import { jsonBody, protectedRoute } from "../openapi.ts";
import { accountDeps, GRANT_RULES } from "./access.ts";
import { CONDITIONAL, userJson, userPrecondition, userRepresentation } from "./representation.ts";
import { RoleSchema, UserIdParams } from "./schemas.ts";

const route = protectedRoute(REQUIRED_PERMISSION.role, {
  method: "put",
  path: "/users/{id}/role",
  tags: ["Users (admin)"],
  summary: "Change a user's role",
  description: `Takes effect on the user's next request (sessions carry the current role).${GRANT_RULES}${CONDITIONAL}`,
  request: { params: UserIdParams, headers: ConditionalWriteHeaders, body: jsonBody(RoleSchema) },
  responses: { 200: userJson("The updated user."), ...problemResponses(400, 404, 409, 412, 415, 503) },
});

export const changeRole = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const { role } = c.req.valid("json");
  const user = await changeAccount(accountDeps(c), { id, set: { role }, precondition: userPrecondition(c) });
  const { body, headers } = await userRepresentation(user);
  return c.json(body, 200, headers);
});
