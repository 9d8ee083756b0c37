import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { confirmEmail } from "../../auth/account-lifecycle.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonBody, jsonResponse, publicRoute } from "../openapi.ts";
import { lifecycleDeps } from "./deps.ts";

const ConfirmSchema = z
  .strictObject({
    token: z
      .string()
      .min(1)
      .max(128)
      .openapi({ description: "The token of the mailed link (its `#token=` fragment)." }),
  })
  .openapi("EmailConfirmation");

const ConfirmedSchema = z
  .object({
    email: z.string().openapi({ description: "The account's address now, verified." }),
    changed: z.boolean().openapi({ description: "True when the link moved the account to a new address." }),
  })
  .openapi("EmailConfirmed");

// It spends a mailed token (not guessable, but each costs a write).
const route = publicRoute("auth", {
  method: "post",
  path: "/auth/email-verification",
  tags: ["Auth"],
  summary: "Confirm an address with a mailed link's token",
  description:
    "Spends the token of a verification link (sent on registration or `POST /users/me/email-verification`: the account's address becomes verified) or of a change of address (`POST /users/me/email`: the account moves to the new address, verified). Single use, 24 hours. The web app's page (`/verify-email#token=…`) posts here; a mail scanner fetching the page spends nothing. 400 `invalid_grant` for a used, expired, unknown or other-purpose token; 409 when another account took the new address meanwhile (the link stays unused).",
  request: { body: jsonBody(ConfirmSchema) },
  responses: { 200: jsonResponse("The address confirmed.", ConfirmedSchema), ...problemResponses(400, 409, 415, 503) },
});

/** `POST /auth/email-verification`. */
export const confirmEmailAddress = createRouter().openapi(route, async (c) => {
  const { email, changed } = await confirmEmail(lifecycleDeps(c), c.req.valid("json").token);
  return c.json({ email, changed }, 200);
});
