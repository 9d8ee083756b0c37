import { createRouter } from "../../app/create-app.ts";
import { sendEmailVerification } from "../../auth/account-lifecycle.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { lifecycleDeps } from "../auth/deps.ts";
import { protectedRoute } from "../openapi.ts";

const route = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/users/me/email-verification",
    tags: ["Users"],
    summary: "Send my address a new verification link",
    description:
      "Mails the caller's address a new link that verifies it (24 hours, single use; earlier links keep working until they expire). At most one a minute and five a day per account (policy `verification`). 409 when the address is verified already.",
    responses: { 202: { description: "The link was queued." }, ...problemResponses(409, 429, 503) },
  },
  // A new link for one's own address: once a minute, five a day.
  { interactiveOnly: true, rateLimit: "verification" },
);

/** `POST /users/me/email-verification`: one HTTP batch, then one queue send. */
export const resendEmailVerification = createRouter().openapi(route, async (c) => {
  const sent = await sendEmailVerification(lifecycleDeps(c), callerOf(c).userId);
  if (!sent) throw new ApiError("conflict", { detail: "Your address is verified already." });
  return c.body(null, 202);
});
