import { z } from "zod";
import { html, link, type RenderedContent } from "./html.ts";

/**
 * The link that sets a new password (`reset_password` token, src/auth/account-lifecycle.ts): asked
 * for at `POST /auth/password-reset`, or sent by an administrator (`POST /users/{id}/password-reset`).
 */
export const passwordReset = {
  name: "account.password-reset" as const,
  params: z
    .object({
      /** The web app's page that takes the new password (the token in its fragment). */
      resetUrl: link,
      /** How long the link works, in minutes (digits). */
      validMinutes: z.string().regex(/^\d{1,4}$/),
    })
    .strict(),
  render(params: { resetUrl: string; validMinutes: string }): RenderedContent {
    return {
      subject: "Reset your password",
      text: [
        "Hello,",
        "",
        "A new password was asked for your TechCorp account. Choose it here:",
        params.resetUrl,
        "",
        `The link works once, for ${params.validMinutes} minutes; setting a new password signs you out everywhere.`,
        "If you did not ask for it, ignore this mail: your password has not changed.",
      ].join("\n"),
      html: html`<p>Hello,</p>
<p>A new password was asked for your TechCorp account: <a href="${params.resetUrl}">choose a new password</a>.</p>
<p>The link works once, for ${params.validMinutes} minutes; setting a new password signs you out everywhere.</p>
<p>If you did not ask for it, ignore this mail: your password has not changed.</p>`,
    };
  },
};
