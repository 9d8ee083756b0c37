/**
 * One way to send one email message, whatever carries it (SMTP submission today). Generic: it
 * knows addresses, a subject, two bodies and headers, never what a message is about.
 */

/** An address (`addr-spec`, RFC 5322 §3.4.1, ASCII only: no SMTPUTF8) with an optional display name. */
export interface Mailbox {
  address: string;
  name?: string | undefined;
}

/**
 * One message. `text` and `html` are the two parts of a `multipart/alternative` body (RFC 2046
 * §5.1.4), the same content twice. `headers` are extra header fields such as `Message-ID`
 * (RFC 5322 §3.6.4) or `Auto-Submitted` (RFC 3834 §5); the fields the message's own members set
 * (From, To, Subject, Date, MIME and content fields) may not be given there.
 */
export interface MailMessage {
  from: Mailbox;
  to: string;
  /** At most {@link MAX_SUBJECT_LENGTH} characters, one line. */
  subject: string;
  text: string;
  html: string;
  headers?: Readonly<Record<string, string>>;
}

/** What the server said when it took the message: its reply to the end of DATA (RFC 5321 §4.1.1.4). */
export interface MailReceipt {
  /** The `Message-ID` the message was sent with. */
  messageId: string;
  /** The server's reply text, e.g. `250 2.0.0 Ok: queued as 4Xk…`. */
  reply: string;
}

/**
 * Sends messages. `send` resolves once the server has taken responsibility for the message
 * (RFC 5321 §6.1) and throws `MailDeliveryError` otherwise: `permanent` when it was refused for
 * good (a 5xx reply to the message's own commands, or a message that can never be sent), else a
 * transient failure worth retrying (the server unreachable or slow, a 4xx, our credentials refused).
 */
export interface Mailer {
  send(message: MailMessage): Promise<MailReceipt>;
}

/** The longest subject accepted, in UTF-16 code units: encoded (RFC 2047), its header line stays under 998 bytes. */
export const MAX_SUBJECT_LENGTH = 100;

/** A message not sent. `replyCode` is the SMTP reply that refused it, when there was one. */
export class MailDeliveryError extends Error {
  /** True when trying again cannot help (RFC 5321 §4.2.1: 5yz is a permanent negative completion). */
  readonly permanent: boolean;
  readonly replyCode: number | undefined;

  constructor(message: string, options: { permanent: boolean; replyCode?: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "MailDeliveryError";
    this.permanent = options.permanent;
    this.replyCode = options.replyCode;
  }
}

// Dot-atom local part and domain (RFC 5322 §3.4.1 without quoted strings, comments or literals).
const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const ADDRESS = new RegExp(
  `^${ATOM}(?:\\.${ATOM})*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$`,
);

/** Whether `address` is one this mailer can put in an SMTP envelope as it is (ASCII dot-atom, at most 254 characters). */
export const isSendableAddress = (address: string): boolean => address.length <= 254 && ADDRESS.test(address);

/** Header field names (RFC 5322 §3.6.8: printable ASCII but the colon). */
const FIELD_NAME = /^[!-9;-~]+$/;
/** Fields a message's own members write; giving them in `headers` would duplicate or contradict them. */
const OWN_FIELDS = new Set([
  "from",
  "to",
  "cc",
  "bcc",
  "reply-to",
  "subject",
  "date",
  "sender",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
]);
/** CR, LF and NUL: any of them in a header value would end the line and start another (header injection). */
const LINE_BREAK = /[\r\n\0]/;

/**
 * Checks what a transport cannot fix by retrying, before anything is sent: addresses it can put in
 * an envelope, a one-line subject of at most {@link MAX_SUBJECT_LENGTH} characters, header names
 * and values without line breaks, no field the message's members set. Throws a permanent
 * `MailDeliveryError` naming the fault.
 */
export function assertSendable(message: MailMessage): void {
  const refuse = (what: string) => {
    throw new MailDeliveryError(`message not sendable: ${what}`, { permanent: true });
  };
  if (!isSendableAddress(message.from.address)) refuse("the sender's address");
  if (!isSendableAddress(message.to)) refuse("the recipient's address");
  if (message.from.name !== undefined && /["\\\r\n\0]/.test(message.from.name)) refuse("the sender's name");
  if (LINE_BREAK.test(message.subject) || message.subject.length > MAX_SUBJECT_LENGTH) refuse("the subject");
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (!FIELD_NAME.test(name) || OWN_FIELDS.has(name.toLowerCase()))
      refuse(`the header field name ${JSON.stringify(name)}`);
    if (LINE_BREAK.test(value) || /[^\x20-\x7e\t]/.test(value)) refuse(`the value of ${name}`);
  }
}

/**
 * Parses a configured sender, `Name <address>` or a bare `address` (RFC 5322 §3.4 `name-addr`
 * without quoting or comments). Returns undefined when it is not one.
 */
export function parseMailbox(text: string): Mailbox | undefined {
  const trimmed = text.trim();
  const named = /^([^<>"\\\r\n]*?)\s*<([^<>\s]+)>$/.exec(trimmed);
  const [address, name] = named ? [named[2] ?? "", named[1]?.trim() || undefined] : [trimmed, undefined];
  return isSendableAddress(address) ? { address, name } : undefined;
}
