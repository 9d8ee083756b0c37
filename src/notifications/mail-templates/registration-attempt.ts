import { z } from "zod";
import { html, link, type RenderedContent } from "./html.ts";

/**
 * Told to the owner of an address when someone registers with it (`POST /users`), which answers as
 * for a new account so that registration does not tell who has one (ASVS v4.0.3 V2.2; OWASP
 * Authentication Cheat Sheet, "Account creation"). It carries nothing the registrant typed but the
 * address itself: the mail goes to someone else, and must not become a way to send them text.
 */
export const registrationAttempt = {
  name: "account.registration-attempt" as const,
  params: z
    .object({
      /** The address registered with, as the account holds it. */
      email: z.email().max(254),
      /** When, ISO 8601 UTC. */
      attemptedAt: z.iso.datetime(),
      /** The web app's page to ask for a password reset (`APP_URL/reset-password`). */
      resetUrl: link.optional(),
    })
    .strict(),
  render(params: { email: string; attemptedAt: string; resetUrl?: string | undefined }): RenderedContent {
    const when = `${params.attemptedAt.slice(0, 16).replace("T", " at ")} UTC`;
    const reset = params.resetUrl
      ? {
          text: `If you have forgotten your password, reset it here:\n${params.resetUrl}`,
          html: html`<p>If you have forgotten your password, <a href="${params.resetUrl}">reset it</a>.</p>`,
        }
      : {
          text: "If you have forgotten your password, you can reset it when you sign in.",
          html: html`<p>If you have forgotten your password, you can reset it when you sign in.</p>`,
        };
    return {
      subject: "Someone tried to register with your address",
      text: [
        "Hello,",
        "",
        `Someone tried to create a new TechCorp account with ${params.email} on ${when}. An account with this address already exists, so nothing was created.`,
        "",
        "If it was you, sign in with your existing account instead.",
        reset.text,
        "",
        "If it was not you, you need not do anything: your account has not changed.",
      ].join("\n"),
      html: html`<p>Hello,</p>
<p>Someone tried to create a new TechCorp account with <strong>${params.email}</strong> on ${when}. An account with this address already exists, so nothing was created.</p>
<p>If it was you, sign in with your existing account instead.</p>
${reset.html}
<p>If it was not you, you need not do anything: your account has not changed.</p>`,
    };
  },
};
