import { createRouter } from "../../app/create-app.ts";
import { noticeEmailChangedByAdministrator } from "../../auth/account-lifecycle.ts";
import { updateAccount } from "../../auth/accounts.ts";
import { REQUIRED_PERMISSION } from "../../auth/grant-rules.ts";
import { callerOf, keysRefused } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { lifecycleDeps } from "../auth/deps.ts";
import { ConditionalWriteHeaders } from "../conditional.ts";
import { jsonBody, protectedRoute } from "../openapi.ts";
import { accountDeps, GRANT_RULES } from "./access.ts";
import { CONDITIONAL, userJson, userPrecondition, userRepresentation } from "./representation.ts";
import { AdminUserPatchSchema, UserIdParams } from "./schemas.ts";

const route = protectedRoute(REQUIRED_PERMISSION.attributes, {
  method: "patch",
  path: "/users/{id}",
  tags: ["Users (admin)"],
  summary: "Update a user's profile, email or username",
  description: `A new email is unverified (\`emailVerified\` becomes false); only an admin sets \`emailVerified: true\`, and not together with a new email. Your own email, username and verification are not changed here. An API key may not change an email address or its verification (403). A new email is refused (403 \`held\`) on an account holding a permission you lack; the old address is told of the change.${GRANT_RULES}${CONDITIONAL}`,
  request: { params: UserIdParams, headers: ConditionalWriteHeaders, body: jsonBody(AdminUserPatchSchema) },
  responses: {
    200: userJson("The updated user."),
    ...problemResponses(400, 404, 409, 412, 415, 503),
  },
});

export const patchUser = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const patch = c.req.valid("json");
  // Keys never manage email addresses (a key could otherwise move an account's mail to its holder).
  if ((patch.email !== undefined || patch.emailVerified !== undefined) && callerOf(c).apiKey) throw keysRefused();
  const user = await updateAccount(accountDeps(c), {
    id,
    patch,
    precondition: userPrecondition(c),
    onEmailChanged: (change) => noticeEmailChangedByAdministrator(lifecycleDeps(c), change),
  });
  const { body, headers } = await userRepresentation(user);
  return c.json(body, 200, headers);
});
