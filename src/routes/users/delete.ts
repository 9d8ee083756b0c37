import { createRouter } from "../../app/create-app.ts";
import { deleteAccount } from "../../auth/accounts.ts";
import { REQUIRED_PERMISSION } from "../../auth/grant-rules.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalWriteHeaders } from "../conditional.ts";
import { protectedRoute } from "../openapi.ts";
import { accountDeps, GRANT_RULES } from "./access.ts";
import { CONDITIONAL, userPrecondition } from "./representation.ts";
import { UserIdParams } from "./schemas.ts";

const route = protectedRoute(REQUIRED_PERMISSION.delete, {
  method: "delete",
  path: "/users/{id}",
  tags: ["Users (admin)"],
  summary: "Delete a user (and end their sessions)",
  description: `${GRANT_RULES.trim()}${CONDITIONAL}`,
  request: { params: UserIdParams, headers: ConditionalWriteHeaders },
  responses: { 204: { description: "Deleted." }, ...problemResponses(400, 404, 409, 412, 503) },
});

export const removeUser = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  await deleteAccount(accountDeps(c), { id, precondition: userPrecondition(c) });
  return c.body(null, 204);
});
