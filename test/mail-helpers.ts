import { env } from "cloudflare:test";
import { eventually } from "./eventually.ts";

/**
 * The local stack's inbox (stack/smtp.ts), read from tests in the api and processor projects: every
 * mail the processor sent through the stack's SMTP server, parsed.
 */

/** One received mail: envelope, parsed headers (lower-cased names), both parts, and the links in them. */
export interface ReceivedMail {
  id: string;
  receivedAt: string;
  envelope: { from: string; to: string[] };
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
  /** Bytes of the message as sent. */
  size: number;
  /** Every http(s) URL of the text part, then every `href` of the HTML part (entities decoded), in order. */
  links: string[];
}

/** The inbox's address (the stack's MAIL_INBOX_URL binding). */
export const inboxUrl = (): string => (env as unknown as { MAIL_INBOX_URL: string }).MAIL_INBOX_URL;

const decode = (text: string) =>
  text.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (_, name: string) =>
    name === "amp" ? "&" : name === "lt" ? "<" : name === "gt" ? ">" : name === "quot" ? '"' : "'",
  );

function withLinks(mail: Omit<ReceivedMail, "links">): ReceivedMail {
  const inText = [...mail.text.matchAll(/https?:\/\/[^\s<>"]+/g)].map(([url]) => url);
  const inHtml = [...mail.html.matchAll(/href="([^"]*)"/g)].map(([, href = ""]) => decode(href));
  return { ...mail, links: [...inText, ...inHtml] };
}

/** The mails delivered to `to` (by the envelope, case-insensitively), newest first. */
export async function mailsTo(to: string): Promise<ReceivedMail[]> {
  const res = await fetch(`${inboxUrl()}/api/messages?to=${encodeURIComponent(to)}`);
  if (res.status !== 200) throw new Error(`inbox: ${res.status} ${await res.text()}`);
  return ((await res.json()) as Omit<ReceivedMail, "links">[]).map(withLinks);
}

/**
 * Waits for a mail to `to` whose subject matches `subject` (a substring or a pattern; any when
 * omitted) and returns the newest such one. Fails when none has arrived within `timeoutMs`.
 */
export async function waitForMail(to: string, subject?: string | RegExp, timeoutMs = 20_000): Promise<ReceivedMail> {
  const matches = (mail: ReceivedMail) =>
    subject === undefined ||
    (typeof subject === "string" ? mail.subject.includes(subject) : subject.test(mail.subject));
  return eventually(async () => (await mailsTo(to)).find(matches), timeoutMs);
}
