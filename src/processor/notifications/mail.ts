import { MailTemplateError, renderMail } from "../../notifications/mail-templates/templates.ts";
import { MailDeliveryError } from "../../pkg/mail/mailer.ts";
import type { MailRequested } from "../../pkg/queue/events.ts";
import type { ProcessorServices, StepResult } from "../context.ts";

/** The part of an address after its last `@`: what the logs name of a recipient (not who they are). */
const domainOf = (address: string) => address.slice(address.lastIndexOf("@") + 1);

/**
 * Renders and sends one `mail.requested` message. Decided as the queue needs it:
 *   - sent: done (logged `mail sent` with the request id that caused it, the template, the
 *     Message-ID and the server's reply);
 *   - refused for good (a 5xx to the message, an address or template that can never work): done,
 *     logged as a warning, never retried;
 *   - anything else (server unreachable or silent, a 4xx, credentials refused): retry with backoff,
 *     and after the queue's `max_retries` the dead-letter queue (`mailDeadLettered`).
 * The Message-ID is derived from the event id, so a retry after a lost answer carries the same one.
 */
export async function sendMail(event: MailRequested, services: ProcessorServices): Promise<StepResult> {
  const { logger } = services;
  const fields = { template: event.template, recipientDomain: domainOf(event.to) };
  if (!services.mail) {
    logger.warn("mail not sent: no SMTP server is configured (SMTP_HOST)", fields);
    return { outcome: "done", note: "mail dropped: no SMTP server configured" };
  }
  let rendered: ReturnType<typeof renderMail>;
  try {
    rendered = renderMail(event.template, event.params);
  } catch (error) {
    if (!(error instanceof MailTemplateError)) throw error;
    logger.error("mail dropped: it cannot be rendered", { ...fields, error });
    return { outcome: "done", note: `mail dropped: ${error.message}` };
  }
  const { from, mailer } = services.mail;
  const messageId = `<${event.id}@${domainOf(from.address)}>`;
  try {
    const receipt = await mailer.send({
      from,
      to: event.to,
      ...rendered,
      // RFC 3834 §5: no auto-responder should answer it.
      headers: { "Message-ID": messageId, "Auto-Submitted": "auto-generated" },
    });
    logger.info("mail sent", { ...fields, messageId, reply: receipt.reply });
    return { outcome: "done", note: `mail sent: ${receipt.reply}` };
  } catch (error) {
    if (error instanceof MailDeliveryError && error.permanent) {
      logger.warn("mail refused for good; not retried", { ...fields, messageId, replyCode: error.replyCode, error });
      return { outcome: "done", note: `mail refused: ${error.message}` };
    }
    logger.warn("mail not sent; retried", { ...fields, messageId, error });
    return { outcome: "retry", reason: error instanceof Error ? error.message : String(error) };
  }
}

/** A mail whose retries are spent: logged as an error for the operator (the address is not), then dropped. */
export function mailDeadLettered(event: MailRequested, attempts: number, services: ProcessorServices): StepResult {
  services.logger.error("mail not sent after the retry limit; dropped", {
    template: event.template,
    recipientDomain: domainOf(event.to),
    attempts,
  });
  return { outcome: "done", note: "mail dropped after the retry limit" };
}
