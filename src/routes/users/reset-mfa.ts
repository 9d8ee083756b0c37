import { createRouter } from "../../app/create-app.ts";
import { resetMfa } from "../../auth/accounts.ts";
import { REQUIRED_PERMISSION } from "../../auth/grant-rules.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalWriteHeaders } from "../conditional.ts";
import { protectedRoute } from "../openapi.ts";
import { accountDeps, GRANT_RULES } from "./access.ts";
import { CONDITIONAL, userPrecondition } from "./representation.ts";
import { UserIdParams } from "./schemas.ts";

const route = protectedRoute(
  REQUIRED_PERMISSION.mfa_reset,
  {
    method: "delete",
    path: "/users/{id}/mfa",
    tags: ["Users (admin)"],
    summary: "Reset a user's second factor",
    description: `For a lost authenticator: the TOTP enrolment and its recovery codes are removed and the user's sessions end; they sign in with their password alone (a staff account must enrol again before anything else). 409 when there is no enrolment. Recorded as \`mfa.reset\`.${GRANT_RULES}${CONDITIONAL}`,
    request: { params: UserIdParams, headers: ConditionalWriteHeaders },
    responses: {
      204: { description: "Removed; the user's sessions have ended." },
      ...problemResponses(400, 404, 409, 412, 503),
    },
  },
  { interactiveOnly: true },
);

export const resetUserMfa = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  await resetMfa(accountDeps(c), { id, precondition: userPrecondition(c) });
  return c.body(null, 204);
});
