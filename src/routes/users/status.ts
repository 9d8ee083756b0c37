import { createRouter } from "../../app/create-app.ts";
import { changeAccount } from "../../auth/accounts.ts";
import { REQUIRED_PERMISSION } from "../../auth/grant-rules.ts";
import type { UserStatus } from "../../db/schema/users.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalWriteHeaders } from "../conditional.ts";
import { protectedRoute } from "../openapi.ts";
import { accountDeps, GRANT_RULES } from "./access.ts";
import { CONDITIONAL, userJson, userPrecondition, userRepresentation } from "./representation.ts";
import { UserIdParams } from "./schemas.ts";

/** Disabling and enabling share a shape: a POST to `/users/{id}/<action>` that sets the account's status. */
function statusChange(action: "disable" | "enable", status: UserStatus, summary: string, answer: string) {
  const route = protectedRoute(REQUIRED_PERMISSION.status, {
    method: "post",
    path: `/users/{id}/${action}`,
    tags: ["Users (admin)"],
    summary,
    description: `${GRANT_RULES.trim()}${CONDITIONAL}`,
    request: { params: UserIdParams, headers: ConditionalWriteHeaders },
    responses: { 200: userJson(answer), ...problemResponses(400, 404, 409, 412, 503) },
  });
  return createRouter().openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const user = await changeAccount(accountDeps(c), { id, set: { status }, precondition: userPrecondition(c) });
    const { body, headers } = await userRepresentation(user);
    return c.json(body, 200, headers);
  });
}

/** `POST /users/{id}/disable` (ending all the user's sessions) and `/enable` (`users:manage`). */
export const changeUserStatus = createRouter()
  .route("/", statusChange("disable", "disabled", "Disable a user (ends all their sessions)", "The disabled user."))
  .route("/", statusChange("enable", "active", "Enable a disabled user", "The enabled user."));
