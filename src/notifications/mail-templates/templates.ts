import type { z } from "zod";
import { apiKeyCreated } from "./api-key-created.ts";
import { emailChangeNotice, emailChangeVerify } from "./email-change.ts";
import { layout, type RenderedContent, type RenderedMail } from "./html.ts";
import { passwordReset } from "./password-reset.ts";
import { registrationAttempt } from "./registration-attempt.ts";
import { usernameTaken } from "./username-taken.ts";
import { verifyEmail } from "./verify-email.ts";

/**
 * A mail template: its name (as mail messages carry it), the schema of its parameters (strings
 * only, as the queue carries them) and how it renders them. Render with `html` (./html.ts) only,
 * so that every parameter is escaped in the HTML part.
 */
export interface MailTemplate<P extends z.ZodType<Record<string, string | undefined>>> {
  name: string;
  params: P;
  render(params: z.output<P>): RenderedContent;
}

/** Every template, by name: the one place mails are written. Add a template here and in its own file. */
export const MAIL_TEMPLATES = {
  [registrationAttempt.name]: registrationAttempt,
  [verifyEmail.name]: verifyEmail,
  [passwordReset.name]: passwordReset,
  [emailChangeVerify.name]: emailChangeVerify,
  [emailChangeNotice.name]: emailChangeNotice,
  [apiKeyCreated.name]: apiKeyCreated,
  [usernameTaken.name]: usernameTaken,
} as const satisfies Record<string, MailTemplate<z.ZodType<Record<string, string | undefined>>>>;

export type MailTemplateName = keyof typeof MAIL_TEMPLATES;
/** The parameters a template takes, as its schema reads them (`undefined` for an optional one left out). */
export type MailTemplateParams<N extends MailTemplateName> = z.input<(typeof MAIL_TEMPLATES)[N]["params"]>;

/** A mail that can never be rendered: an unknown template, or parameters its schema refuses. */
export class MailTemplateError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MailTemplateError";
  }
}

type AnyTemplate = MailTemplate<z.ZodType<Record<string, string | undefined>>>;

/** The template named, with the parameters its schema read; `MailTemplateError` otherwise. */
function parse(template: string, params: Record<string, unknown>) {
  if (!Object.hasOwn(MAIL_TEMPLATES, template)) {
    throw new MailTemplateError(`unknown mail template ${JSON.stringify(template)}`);
  }
  const definition: AnyTemplate = MAIL_TEMPLATES[template as MailTemplateName];
  const parsed = definition.params.safeParse(params);
  if (!parsed.success) {
    const fields = parsed.error.issues
      .flatMap((issue) => (issue.code === "unrecognized_keys" ? issue.keys : [issue.path.join(".") || "(root)"]))
      .join(", ");
    throw new MailTemplateError(`parameters of mail template ${template} refused: ${fields}`, { cause: parsed.error });
  }
  return { definition, params: parsed.data };
}

/**
 * Checks a template's parameters against its schema and returns them as the queue carries them
 * (strings, optional ones left out). Throws `MailTemplateError` naming the template and the fields.
 */
export function checkMailParams(template: string, params: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(parse(template, params).params).filter(
      (entry): entry is [string, string] => typeof entry[1] === "string",
    ),
  );
}

/**
 * Renders a mail by its template's name: subject, plain text and HTML (every parameter escaped in
 * it), in the common layout. Throws `MailTemplateError` for an unknown template or parameters its
 * schema refuses: a mail that can never be sent.
 */
export function renderMail(template: string, params: Record<string, string>): RenderedMail {
  const { definition, params: parsed } = parse(template, params);
  return layout(definition.render(parsed));
}
