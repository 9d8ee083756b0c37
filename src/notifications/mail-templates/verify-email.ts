import { z } from "zod";
import { html, link, type RenderedContent } from "./html.ts";

/**
 * The link that proves an account's address (`verify_email` token, src/auth/account-lifecycle.ts):
 * sent on registration and on `POST /users/me/email-verification`.
 */
export const verifyEmail = {
  name: "account.verify-email" as const,
  params: z
    .object({
      /** The web app's page that spends the token (the token in its fragment). */
      verifyUrl: link,
      /** How long the link works, in hours (digits). */
      validHours: z.string().regex(/^\d{1,4}$/),
    })
    .strict(),
  render(params: { verifyUrl: string; validHours: string }): RenderedContent {
    return {
      subject: "Confirm your email address",
      text: [
        "Hello,",
        "",
        "Confirm that this address is yours by opening this link:",
        params.verifyUrl,
        "",
        `The link works once, for ${params.validHours} hours. If you did not create a TechCorp account, ignore this mail.`,
      ].join("\n"),
      html: html`<p>Hello,</p>
<p>Confirm that this address is yours: <a href="${params.verifyUrl}">confirm my email address</a>.</p>
<p>The link works once, for ${params.validHours} hours. If you did not create a TechCorp account, ignore this mail.</p>`,
    };
  },
};
