import { z } from "zod";
import { html, link, type RenderedContent, singleLine } from "./html.ts";

/** When, as mails say it: `2026-12-01 at 05:20 UTC` from an ISO 8601 UTC instant. */
const spoken = (instant: string) => `${instant.slice(0, 16).replace("T", " at ")} UTC`;

/**
 * To the owner of a new API key (`POST /api-keys`): its name, scopes and expiry, and what to do
 * if they did not make it. ASVS v4.0.3 V2.2.3 (notify on changes of authentication details).
 */
export const apiKeyCreated = {
  name: "account.api-key-created" as const,
  params: z
    .object({
      /** The key's name, as its creator gave it. */
      keyName: singleLine(100),
      /** The last four characters of the key, as listings show them. */
      lastCharacters: z.string().regex(/^[0-9A-Za-z]{4}$/),
      /** Its scopes, comma-separated. */
      scopes: singleLine(1000),
      /** When it was made and when it expires, ISO 8601 UTC. */
      createdAt: z.iso.datetime(),
      expiresAt: z.iso.datetime(),
      /** The web app's page to ask for a password reset. */
      resetUrl: link,
    })
    .strict(),
  render(params: {
    keyName: string;
    lastCharacters: string;
    scopes: string;
    createdAt: string;
    expiresAt: string;
    resetUrl: string;
  }): RenderedContent {
    const made = spoken(params.createdAt);
    const until = spoken(params.expiresAt);
    return {
      subject: "A new API key was created for your account",
      text: [
        "Hello,",
        "",
        `On ${made} an API key named "${params.keyName}" (ending ${params.lastCharacters}) was created for your TechCorp account, with the scopes ${params.scopes}, valid until ${until}.`,
        "",
        "If this was not you, someone can sign in as you. Reset your password now: a reset revokes every API key and signs everyone out.",
        params.resetUrl,
      ].join("\n"),
      html: html`<p>Hello,</p>
<p>On ${made} an API key named <strong>${params.keyName}</strong> (ending ${params.lastCharacters}) was created for your TechCorp account, with the scopes ${params.scopes}, valid until ${until}.</p>
<p>If this was not you, someone can sign in as you. <a href="${params.resetUrl}">Reset your password now</a>: a reset revokes every API key and signs everyone out.</p>`,
    };
  },
};
