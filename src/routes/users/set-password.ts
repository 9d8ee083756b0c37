import { createRouter } from "../../app/create-app.ts";
import { setTemporaryPassword } from "../../auth/accounts.ts";
import { REQUIRED_PERMISSION } from "../../auth/grant-rules.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalWriteHeaders } from "../conditional.ts";
import { jsonBody, protectedRoute } from "../openapi.ts";
import { accountDeps, GRANT_RULES } from "./access.ts";
import { CONDITIONAL, userPrecondition } from "./representation.ts";
import { TemporaryPasswordSchema, UserIdParams } from "./schemas.ts";

const route = protectedRoute(
  REQUIRED_PERMISSION.password,
  {
    method: "put",
    path: "/users/{id}/password",
    tags: ["Users (admin)"],
    summary: "Set a temporary password",
    description: `The user's sessions end; their next login gets a session that can only change the password (\`POST /users/me/password\`; 403 \`required_action\` \`UPDATE_PASSWORD\` elsewhere). Recorded as \`user.temporary_password_set\`.${GRANT_RULES}${CONDITIONAL}`,
    request: { params: UserIdParams, headers: ConditionalWriteHeaders, body: jsonBody(TemporaryPasswordSchema) },
    responses: {
      204: { description: "Set; the user's sessions have ended." },
      ...problemResponses(400, 404, 409, 412, 415, 503),
    },
  },
  { interactiveOnly: true },
);

export const setPassword = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const { password } = c.req.valid("json");
  const { config } = c.get("services");
  const deps = { ...accountDeps(c), pbkdf2Iterations: config.auth.pbkdf2Iterations };
  await setTemporaryPassword(deps, { id, password, precondition: userPrecondition(c) });
  return c.body(null, 204);
});
