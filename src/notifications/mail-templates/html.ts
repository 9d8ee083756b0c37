import { escapeUTF8 } from "entities/escape";
import { z } from "zod";

/** HTML that is safe to insert as it is: built by {@link html}, whose every value was escaped. */
export class SafeHtml {
  readonly value: string;

  constructor(value: string) {
    this.value = value;
  }

  toString(): string {
    return this.value;
  }
}

type HtmlValue = string | number | SafeHtml | readonly SafeHtml[];

/**
 * A tagged template for HTML: every interpolated string or number is escaped (`& < > " '`, by
 * `entities`' `escapeUTF8`), so it is text in an element and stays inside a quoted attribute
 * (OWASP XSS Prevention Cheat Sheet, rules 1 and 2); only {@link SafeHtml} (another `html`
 * result) goes in as it is. URLs in `href` must be checked for their scheme first (see `link`).
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? "";
  values.forEach((value, index) => {
    const inserted =
      value instanceof SafeHtml
        ? value.value
        : Array.isArray(value)
          ? value.map((part: SafeHtml) => part.value).join("")
          : escapeUTF8(String(value));
    out += inserted + (strings[index + 1] ?? "");
  });
  return new SafeHtml(out);
}

/**
 * One line of text from outside (a name, a title): no control or invisible formatting characters
 * (C0, C1, zero-width, directional overrides: they could fake lines or reorder what a reader sees).
 */
export const singleLine = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\p{Cc}\p{Cf}]*$/u, "no control or formatting characters");

/** A link put in a mail: http or https only (no `javascript:`, `data:`), at most 1,024 characters (`MAX_MAIL_PARAM_LENGTH`). */
export const link = z.url({ protocol: /^https?$/ }).max(1024);

/** What a template renders: the subject, the plain-text body and the HTML body's content. */
export interface RenderedContent {
  subject: string;
  text: string;
  html: SafeHtml;
}

/** A rendered mail: the subject and both parts whole. */
export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

const FOOTER = "This is an automated message from TechCorp Platform; replies are not read.";

/** Wraps a template's content in the mails' common frame: an HTML document, and the plain-text footer. */
export function layout(content: RenderedContent): RenderedMail {
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${content.subject}</title>
</head>
<body style="margin:0;padding:0;background:#f5f5f5">
<div style="max-width:560px;margin:0 auto;padding:24px;background:#ffffff;font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;color:#1a1a1a">
${content.html}
<p style="margin-top:32px;font-size:12px;color:#6b6b6b">${FOOTER}</p>
</div>
</body>
</html>
`;
  return { subject: content.subject, text: `${content.text.trimEnd()}\n\n-- \n${FOOTER}\n`, html: page.value };
}
