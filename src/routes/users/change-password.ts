import { createRouter } from "../../app/create-app.ts";
import { changeOwnPassword } from "../../auth/passwords.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { authDeps } from "../auth/deps.ts";
import { jsonBody, protectedRoute } from "../openapi.ts";
import { requestOrigin } from "../request-origin.ts";
import { PasswordChangeSchema } from "./schemas.ts";

const route = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/users/me/password",
    tags: ["Users"],
    summary: "Change my password",
    description:
      "Needs the current password (a wrong one is a 403), checked as a login attempt is (counted against the account and the address: five wrong ones, then waits of 1 s, 2 s, 4 s … up to 15 min, 429 with Retry-After). The new one follows registration's rules. Every other session of the account ends; this one stays, and a pending `UPDATE_PASSWORD` required action (a temporary password) is done. Recorded as `user.password_changed`.",
    request: { body: jsonBody(PasswordChangeSchema) },
    responses: {
      204: { description: "Changed; the other sessions have ended." },
      ...problemResponses(400, 403, 404, 415, 429, 503),
    },
  },
  // The current password is checked (the login throttle counts the guesses too).
  { interactiveOnly: true, requiredActionFor: ["UPDATE_PASSWORD"], rateLimit: "auth" },
);

export const changePassword = createRouter().openapi(route, async (c) => {
  const { currentPassword, newPassword } = c.req.valid("json");
  const { userId, sessionId } = callerOf(c);
  await changeOwnPassword(authDeps(c), { userId, sessionId, currentPassword, newPassword, origin: requestOrigin(c) });
  return c.body(null, 204);
});
