import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { requestEmailChange } from "../../auth/account-lifecycle.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { clientIp } from "../../gateway/rate-limit.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { lifecycleDeps } from "../auth/deps.ts";
import { jsonBody, protectedRoute } from "../openapi.ts";
import { EmailSchema } from "./schemas.ts";

const ChangeEmailSchema = z
  .strictObject({
    email: EmailSchema.openapi({ description: "The new address." }),
    currentPassword: z.string().min(1).max(256),
  })
  .openapi("EmailChangeRequest");

const route = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/users/me/email",
    tags: ["Users"],
    summary: "Change my email address",
    description:
      "Needs the current password (counted by the login throttle: 403 when wrong, 429 while throttled). Mails a link to the NEW address; the account moves only when it is followed (`POST /auth/email-verification`), and the address must still be free then (409 otherwise). The OLD address is told at once, with the time and how to stop it (a password reset cancels the pending change). A new request replaces a pending one. The answer is the same whether or not another account has the new address (no link is sent then).",
    request: { body: jsonBody(ChangeEmailSchema) },
    responses: {
      202: { description: "The link and the notice were queued." },
      ...problemResponses(400, 403, 415, 429, 503),
    },
  },
  // It checks the current password (the login throttle counts it too).
  { interactiveOnly: true, rateLimit: "auth" },
);

/** `POST /users/me/email`. */
export const changeMyEmail = createRouter().openapi(route, async (c) => {
  const { email, currentPassword } = c.req.valid("json");
  await requestEmailChange(
    {
      ...lifecycleDeps(c),
      throttle: c.env.LOGIN_THROTTLE,
      clientIp: clientIp(c),
      pbkdf2Iterations: c.get("services").config.auth.pbkdf2Iterations,
    },
    { userId: callerOf(c).userId, currentPassword, newEmail: email },
  );
  return c.body(null, 202);
});
