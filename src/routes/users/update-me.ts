import { createRouter } from "../../app/create-app.ts";
import { updateOwnProfile } from "../../auth/accounts.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalWriteHeaders } from "../conditional.ts";
import { jsonBody, protectedRoute } from "../openapi.ts";
import { accountDeps } from "./access.ts";
import { CONDITIONAL, userJson, userPrecondition, userRepresentation } from "./representation.ts";
import { ProfilePatchSchema } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "patch",
  path: "/users/me",
  tags: ["Users"],
  summary: "Update my profile and preferences",
  description: `Only profile fields and preferences; anything else (role, status, email) is refused with 400.${CONDITIONAL}`,
  request: { headers: ConditionalWriteHeaders, body: jsonBody(ProfilePatchSchema) },
  responses: { 200: userJson("The updated user."), ...problemResponses(400, 412, 415, 503) },
});

export const updateMe = createRouter().openapi(route, async (c) => {
  const patch = c.req.valid("json");
  const user = await updateOwnProfile(accountDeps(c), { patch, precondition: userPrecondition(c) });
  const { body, headers } = await userRepresentation(user);
  return c.json(body, 200, headers);
});
