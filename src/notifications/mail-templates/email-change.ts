import { z } from "zod";
import { html, link, type RenderedContent } from "./html.ts";

/** When, as mails say it: `2026-12-01 at 05:20 UTC` from an ISO 8601 UTC instant. */
const spoken = (instant: string) => `${instant.slice(0, 16).replace("T", " at ")} UTC`;

/**
 * To the NEW address of a change of email (`POST /users/me/email`): the link that proves it and
 * applies the change (`change_email` token). Nothing changes until it is followed.
 */
export const emailChangeVerify = {
  name: "account.email-change-verify" as const,
  params: z
    .object({
      verifyUrl: link,
      validHours: z.string().regex(/^\d{1,4}$/),
    })
    .strict(),
  render(params: { verifyUrl: string; validHours: string }): RenderedContent {
    return {
      subject: "Confirm your new email address",
      text: [
        "Hello,",
        "",
        "Your TechCorp account asked to use this address from now on. Confirm it by opening this link:",
        params.verifyUrl,
        "",
        `The link works once, for ${params.validHours} hours; until then the account keeps its old address. If you did not ask for this, ignore this mail.`,
      ].join("\n"),
      html: html`<p>Hello,</p>
<p>Your TechCorp account asked to use this address from now on: <a href="${params.verifyUrl}">confirm this address</a>.</p>
<p>The link works once, for ${params.validHours} hours; until then the account keeps its old address. If you did not ask for this, ignore this mail.</p>`,
    };
  },
};

/**
 * To the OLD address of a change of email: when it was asked for, and how to stop it (a password
 * reset voids the pending change and ends every session). With `by: "administrator"`, the change
 * an administrator made (`PATCH /users/{id}`), already done: whom to ask if it was unexpected.
 * ASVS v4.0.3 V2.2.3 (notify on changes of authentication details).
 */
export const emailChangeNotice = {
  name: "account.email-change-notice" as const,
  params: z
    .object({
      /** The address asked for, as the account's owner typed it (an address: checked as one). */
      newEmail: z.email().max(254),
      /** When, ISO 8601 UTC. */
      requestedAt: z.iso.datetime(),
      /** The web app's page to ask for a password reset. */
      resetUrl: link,
      /** Who changed it: the owner asked (the default), or an administrator changed it. */
      by: z.enum(["owner", "administrator"]).optional(),
    })
    .strict(),
  render(params: {
    newEmail: string;
    requestedAt: string;
    resetUrl: string;
    by?: "owner" | "administrator" | undefined;
  }): RenderedContent {
    const when = spoken(params.requestedAt);
    if (params.by === "administrator") {
      return {
        subject: "Your email address was changed by an administrator",
        text: [
          "Hello,",
          "",
          `On ${when} an administrator changed your TechCorp account's email address to ${params.newEmail}. Mail for the account, password reset links included, now goes there.`,
          "",
          "If you did not expect this, contact your administrators at once.",
        ].join("\n"),
        html: html`<p>Hello,</p>
<p>On ${when} an administrator changed your TechCorp account's email address to <strong>${params.newEmail}</strong>. Mail for the account, password reset links included, now goes there.</p>
<p>If you did not expect this, contact your administrators at once.</p>`,
      };
    }
    return {
      subject: "A change of your email address was requested",
      text: [
        "Hello,",
        "",
        `On ${when} your TechCorp account asked to change its email address to ${params.newEmail}. It changes only when the link sent to that address is followed.`,
        "",
        "If this was not you, someone knows your password. Reset it now: a reset cancels the pending change and signs everyone out.",
        params.resetUrl,
      ].join("\n"),
      html: html`<p>Hello,</p>
<p>On ${when} your TechCorp account asked to change its email address to <strong>${params.newEmail}</strong>. It changes only when the link sent to that address is followed.</p>
<p>If this was not you, someone knows your password. <a href="${params.resetUrl}">Reset it now</a>: a reset cancels the pending change and signs everyone out.</p>`,
    };
  },
};
