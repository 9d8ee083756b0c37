import type { MailRequested, NotificationPublisher } from "../pkg/queue/events.ts";
import type { MailTemplateName, MailTemplateParams } from "./mail-templates/templates.ts";

/** What to send: a template of src/notifications/mail-templates/ and its parameters, to one address. */
export interface MailRequest<N extends MailTemplateName> {
  /** The request that causes the mail: the processor logs its sending with it. */
  requestId: string;
  to: string;
  template: N;
  params: MailTemplateParams<N>;
  /** The mail's identity (its Message-ID, the same on every retry); a random UUID unless given. */
  id?: string;
}

/**
 * Puts a templated mail on the `notifications` queue; the processor renders it (plain text and
 * HTML) and sends it over SMTP, retrying transient failures with backoff (README, "Email").
 * Never sends on the request's path: call it where the request may wait for one queue send
 * (`QUEUE_TIMEOUT_MS`), or in `services.background` to answer first. The parameters are checked
 * against the template's schema before anything is sent.
 *
 * ```ts
 * await enqueueMail(services.notifications, {
 *   requestId, to: user.email, template: "account.registration-attempt",
 *   params: { email: user.email, attemptedAt: new Date().toISOString() },
 * });
 * ```
 *
 * @returns the `mail.requested` event as sent.
 * @throws `MailTemplateError` when the template refuses the parameters (a bug of the caller);
 *   `DependencyError("notifications queue")` when the queue does not take the message.
 */
export async function enqueueMail<N extends MailTemplateName>(
  notifications: NotificationPublisher,
  mail: MailRequest<N>,
): Promise<MailRequested> {
  // Imported when first needed: the templates bring `entities`, which the API's isolates do not
  // load at startup (test/node/startup-modules.test.ts).
  const { checkMailParams } = await import("./mail-templates/templates.ts");
  const params = checkMailParams(mail.template, mail.params);
  return notifications.publish({
    type: "mail.requested",
    requestId: mail.requestId,
    to: mail.to,
    template: mail.template,
    params,
    ...(mail.id ? { id: mail.id } : {}),
  }) as Promise<MailRequested>;
}
