import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { mailReset, newResetToken, RESET_TOKEN_TTL_SECONDS } from "../../auth/account-lifecycle.ts";
import { storeAdminPasswordReset } from "../../auth/accounts.ts";
import { REQUIRED_PERMISSION } from "../../auth/grant-rules.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { lifecycleDeps } from "../auth/deps.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { requestOrigin } from "../request-origin.ts";
import { accountDeps, GRANT_RULES } from "./access.ts";
import { UserIdParams } from "./schemas.ts";

const SentSchema = z
  .object({ expiresAt: z.iso.datetime().openapi({ description: "When the link stops working." }) })
  .openapi("PasswordResetSent");

const route = protectedRoute(
  REQUIRED_PERMISSION.status,
  {
    method: "post",
    path: "/users/{id}/password-reset",
    tags: ["Users (admin)"],
    summary: "Send a user a password reset link",
    description: `Mails the user's address a link to set a new password (single use, ${RESET_TOKEN_TTL_SECONDS / 60} minutes); the password stays until the user follows it. The link is stored and the event recorded only if the mail was queued (503 otherwise, nothing stored). \`users:manage\`, under the rules of a status change.${GRANT_RULES} 409 for a disabled account.`,
    request: { params: UserIdParams },
    responses: { 202: jsonResponse("The link was queued.", SentSchema), ...problemResponses(400, 404, 409, 503) },
  },
  { interactiveOnly: true },
);

/** `POST /users/{id}/password-reset` (`users:manage`). */
export const sendUserPasswordReset = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const { token, tokenHash } = await newResetToken();
  const sent = await storeAdminPasswordReset(
    accountDeps(c),
    { id, tokenHash, ttlSeconds: RESET_TOKEN_TTL_SECONDS, origin: requestOrigin(c) },
    (email) => mailReset(lifecycleDeps(c), email, token),
  );
  return c.json({ expiresAt: sent.expiresAt.toISOString() }, 202);
});
