import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { RESET_TOKEN_TTL_SECONDS, requestPasswordReset, resetPassword } from "../../auth/account-lifecycle.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonBody, jsonResponse, publicRoute } from "../openapi.ts";
import { EmailSchema, PasswordSchema } from "../users/schemas.ts";
import { lifecycleDeps } from "./deps.ts";

const ResetRequestSchema = z.strictObject({ email: EmailSchema }).openapi("PasswordResetRequest");

const AcceptedSchema = z
  .object({ detail: z.string() })
  .openapi("PasswordResetAccepted", { description: "The same for every address." });

const ACCEPTED = "If an active account has this address, a link to reset its password was sent to it.";

// Per client address, so that one client cannot fill mailboxes (OWASP Forgot Password Cheat Sheet).
const requestRoute = publicRoute("recovery", {
  method: "post",
  path: "/auth/password-reset",
  tags: ["Auth"],
  summary: "Ask for a password reset link",
  description: `Mails the account with this address a link to set a new password, valid once for ${RESET_TOKEN_TTL_SECONDS / 60} minutes. The answer is 202 with the same body whether or not an account has the address, and the request does the same work either way: the lookup and the mail run after the answer (OWASP Forgot Password Cheat Sheet; ASVS v4.0.3 V2.2). Limited per client address (policy \`recovery\`) and per account (three links an hour, whoever asks).`,
  request: { body: jsonBody(ResetRequestSchema) },
  responses: {
    202: jsonResponse("Accepted: a link was sent if an account has the address.", AcceptedSchema),
    ...problemResponses(400, 415, 429),
  },
});

const ResetConfirmSchema = z
  .strictObject({
    token: z
      .string()
      .min(1)
      .max(128)
      .openapi({ description: "The token of the mailed link (its `#token=` fragment)." }),
    password: PasswordSchema,
  })
  .openapi("PasswordResetConfirmation");

// It spends a mailed token (not guessable, but each costs a PBKDF2 derivation and a write).
const confirmRoute = publicRoute("auth", {
  method: "post",
  path: "/auth/password-reset/confirm",
  tags: ["Auth"],
  summary: "Set a new password with a reset link's token",
  description:
    "Spends the token (single use; 30 minutes) and sets the new password. Every session of the account ends, its login throttle is cleared, its address counts as verified (the link reached it), and its other pending links (earlier resets, a pending change of address) stop working. The web app's page posts here; a mail scanner fetching the page spends nothing. 400 `invalid_grant` for a used, expired, unknown or other-purpose token.",
  request: { body: jsonBody(ResetConfirmSchema) },
  responses: { 204: { description: "The password is set; sign in with it." }, ...problemResponses(400, 415, 503) },
});

/** `POST /auth/password-reset` and `POST /auth/password-reset/confirm`. */
export const passwordReset = createRouter()
  .openapi(requestRoute, async (c) => {
    const { email } = c.req.valid("json");
    requestPasswordReset(lifecycleDeps(c), email);
    return c.json({ detail: ACCEPTED }, 202);
  })
  .openapi(confirmRoute, async (c) => {
    const { token, password } = c.req.valid("json");
    const { config } = c.get("services");
    await resetPassword(
      {
        ...lifecycleDeps(c),
        pbkdf2Iterations: config.auth.pbkdf2Iterations,
        sessions: c.env.SESSIONS,
        throttle: c.env.LOGIN_THROTTLE,
      },
      { token, password },
    );
    return c.body(null, 204);
  });
