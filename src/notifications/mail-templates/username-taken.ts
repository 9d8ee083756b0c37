import { z } from "zod";
import type { RenderedContent } from "./html.ts";
import { html } from "./html.ts";

/**
 * Told to an address no account has when a registration with it was refused because the username
 * was taken (`POST /users` answers as for a new account, so that registration does not tell which
 * usernames exist: ASVS v4.0.3 V2.2). Without it, the registrant would wait for a verification
 * mail that never comes. Like `account.registration-attempt` it carries nothing the registrant
 * typed, not even the username: the address may be someone else's.
 */
export const usernameTaken = {
  name: "account.username-taken" as const,
  params: z
    .object({
      /** When, ISO 8601 UTC. */
      attemptedAt: z.iso.datetime(),
    })
    .strict(),
  render(params: { attemptedAt: string }): RenderedContent {
    const when = `${params.attemptedAt.slice(0, 16).replace("T", " at ")} UTC`;
    return {
      subject: "Your TechCorp account was not created",
      text: [
        "Hello,",
        "",
        `Someone tried to create a TechCorp account with this address on ${when}, but the username they chose is already taken, so nothing was created.`,
        "",
        "If it was you, register again with another username.",
        "",
        "If it was not you, you need not do anything.",
      ].join("\n"),
      html: html`<p>Hello,</p>
<p>Someone tried to create a TechCorp account with this address on ${when}, but the username they chose is already taken, so nothing was created.</p>
<p>If it was you, register again with another username.</p>
<p>If it was not you, you need not do anything.</p>`,
    };
  },
};
