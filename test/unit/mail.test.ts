import { describe, expect, it } from "vitest";
import { html, layout, SafeHtml } from "../../src/notifications/mail-templates/html.ts";
import { checkMailParams, MailTemplateError, renderMail } from "../../src/notifications/mail-templates/templates.ts";
import { ConfigError, loadProcessorConfig } from "../../src/pkg/config/config.ts";
import { assertSendable, MailDeliveryError, type MailMessage, parseMailbox } from "../../src/pkg/mail/mailer.ts";
import {
  assertFitsInMessage,
  buildEvent,
  MAX_MAIL_PARAM_LENGTH,
  MAX_MAIL_PARAMS,
  MAX_MESSAGE_BYTES,
  MailRequestedSchema,
} from "../../src/pkg/queue/events.ts";
import { testEnv } from "./env.ts";

const HOSTILE_NAME = `Ada "the admin" <script>alert('x')</script> & co`;

describe("mail templates: HTML escaping", () => {
  it("escapes every interpolated value: tags, both quotes and ampersands", () => {
    const out = html`<p title="${HOSTILE_NAME}">Hello ${HOSTILE_NAME}</p>`.value;
    expect(out).not.toContain("<script>");
    expect(out).not.toMatch(/title="Ada "/);
    expect(out).toBe(
      '<p title="Ada &quot;the admin&quot; &lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; co">' +
        "Hello Ada &quot;the admin&quot; &lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; co</p>",
    );
  });

  it("inserts only HTML built by the tag as it is, arrays of it too", () => {
    const inner = html`<b>${"<i>"}</b>`;
    expect(html`<div>${inner}${[inner, inner]}</div>`.value).toBe(
      "<div><b>&lt;i&gt;</b><b>&lt;i&gt;</b><b>&lt;i&gt;</b></div>",
    );
    // A string that looks like markup is text, even when it is the value of a SafeHtml elsewhere.
    expect(html`${new SafeHtml("<em>ok</em>").value}`.value).toBe("&lt;em&gt;ok&lt;/em&gt;");
  });

  it("escapes the subject in the layout's title and keeps it whole in the text part", () => {
    const mail = layout({ subject: HOSTILE_NAME, text: `Hello ${HOSTILE_NAME}`, html: html`<p>${HOSTILE_NAME}</p>` });
    expect(mail.html).not.toContain("<script>");
    expect(mail.html).toContain("<title>Ada &quot;the admin&quot; &lt;script&gt;");
    expect(mail.text).toContain(`Hello ${HOSTILE_NAME}`);
    expect(mail.text).toMatch(/\n-- \n.+\n$/);
  });

  it("renders the registration notice with the address escaped in HTML and as it is in the text", () => {
    const mail = renderMail("account.registration-attempt", {
      email: "o'brien@example.com",
      attemptedAt: "2026-12-01T05:30:00.000Z",
      resetUrl: "https://app.example/reset?token=a&next=%22x%22",
    });
    expect(mail.subject).toBe("Someone tried to register with your address");
    expect(mail.html).toContain("<strong>o&apos;brien@example.com</strong>");
    expect(mail.html).toContain('href="https://app.example/reset?token=a&amp;next=%22x%22"');
    expect(mail.text).toContain("with o'brien@example.com on 2026-12-01 at 05:30 UTC.");
    expect(mail.text).toContain("https://app.example/reset?token=a&next=%22x%22");
  });

  it("says how to reset without a link when none is given", () => {
    const mail = renderMail("account.registration-attempt", {
      email: "ada@example.com",
      attemptedAt: "2026-12-01T05:30:00.000Z",
    });
    expect(mail.html).not.toContain("href=");
    expect(mail.text).toContain("you can reset it when you sign in");
  });
});

describe("mail templates: parameters", () => {
  const params = { email: "ada@example.com", attemptedAt: "2026-12-01T05:30:00.000Z" };

  it("refuses links that are not http(s), unknown and missing parameters, and unknown templates", () => {
    for (const resetUrl of ["javascript:alert(1)", "data:text/html,<script>x</script>", "not a url"]) {
      expect(() => renderMail("account.registration-attempt", { ...params, resetUrl })).toThrow(MailTemplateError);
    }
    expect(() => renderMail("account.registration-attempt", { ...params, extra: "x" })).toThrow(/extra/);
    expect(() => renderMail("account.registration-attempt", { email: "ada@example.com" })).toThrow(/attemptedAt/);
    expect(() => renderMail("account.no-such-template", params)).toThrow(/unknown mail template/);
    expect(() => renderMail("constructor", params)).toThrow(/unknown mail template/);
  });

  it("gives the parameters as the queue carries them: optional ones left out", () => {
    expect(checkMailParams("account.registration-attempt", { ...params, resetUrl: undefined })).toEqual(params);
  });
});

describe("mail messages on the queue: size", () => {
  const event = (params: Record<string, string>) =>
    buildEvent(MailRequestedSchema, {
      type: "mail.requested",
      requestId: "r".repeat(255),
      to: `${"a".repeat(64)}@${"b".repeat(63)}.${"c".repeat(63)}.example`,
      template: "t".repeat(64),
      params,
    });

  it("fits the largest message the schema allows in one queue message", () => {
    // Every character a control character: JSON writes each as a six-byte \u00XX escape.
    const params = Object.fromEntries(
      Array.from({ length: MAX_MAIL_PARAMS }, (_, i) => [
        `p${i}`.padEnd(64, "x"),
        "\u0001".repeat(MAX_MAIL_PARAM_LENGTH),
      ]),
    );
    const largest = event(params);
    const bytes = new TextEncoder().encode(JSON.stringify(largest)).byteLength;
    expect(bytes).toBeGreaterThan(MAX_MAIL_PARAMS * MAX_MAIL_PARAM_LENGTH * 6);
    expect(bytes).toBeLessThan(MAX_MESSAGE_BYTES);
    expect(() => assertFitsInMessage(largest)).not.toThrow();
  });

  it("refuses more parameters or longer values than the bound", () => {
    const many = Object.fromEntries(Array.from({ length: MAX_MAIL_PARAMS + 1 }, (_, i) => [`p${i}`, "x"]));
    expect(() => event(many)).toThrow(/at most 16 parameters/);
    expect(() => event({ p: "x".repeat(MAX_MAIL_PARAM_LENGTH + 1) })).toThrow();
  });

  it("keeps a real notice far below the limit", () => {
    const notice = buildEvent(MailRequestedSchema, {
      type: "mail.requested",
      requestId: "req-1",
      to: "ada@example.com",
      template: "account.registration-attempt",
      params: { email: "ada@example.com", attemptedAt: "2026-12-01T05:30:00.000Z" },
    });
    expect(JSON.stringify(notice).length).toBeLessThan(1000);
  });
});

describe("mailer: what can be sent", () => {
  const message = (changes: Partial<MailMessage> = {}): MailMessage => ({
    from: { address: "no-reply@techcorp.example", name: "TechCorp" },
    to: "ada@example.com",
    subject: "Hello",
    text: "Hello",
    html: "<p>Hello</p>",
    ...changes,
  });
  const refusal = (changes: Partial<MailMessage>) => {
    try {
      assertSendable(message(changes));
    } catch (error) {
      if (error instanceof MailDeliveryError) return { permanent: error.permanent, message: error.message };
      throw error;
    }
    return undefined;
  };

  it("accepts a plain message with extra header fields", () => {
    expect(refusal({ headers: { "Message-ID": "<1@techcorp.example>", "Auto-Submitted": "auto-generated" } })).toBe(
      undefined,
    );
  });

  it("refuses header injection: line breaks in the subject, a header value or the sender's name", () => {
    expect(refusal({ subject: "Hi\r\nBcc: victim@example.com" })).toMatchObject({ permanent: true });
    expect(refusal({ subject: "Hi\nBcc: victim@example.com" })).toMatchObject({ permanent: true });
    expect(refusal({ headers: { "X-Note": "a\r\nBcc: victim@example.com" } })).toMatchObject({ permanent: true });
    expect(refusal({ from: { address: "no-reply@techcorp.example", name: 'Tech"Corp' } })).toMatchObject({
      permanent: true,
    });
  });

  it("refuses fields the message's members set, and malformed field names", () => {
    expect(refusal({ headers: { Bcc: "victim@example.com" } })?.message).toMatch(/Bcc/);
    expect(refusal({ headers: { "content-type": "text/html" } })?.message).toMatch(/content-type/);
    expect(refusal({ headers: { "X Bad": "x" } })?.message).toMatch(/X Bad/);
  });

  it("refuses addresses an SMTP envelope cannot carry as they are", () => {
    for (const to of ["ada@example.com>\r\nRCPT TO:<x@example.com", "ada@exämple.com", "ada", "<ada@example.com>"]) {
      expect(refusal({ to })).toMatchObject({ permanent: true });
    }
  });

  it("refuses a subject longer than its encoded header line may be", () => {
    expect(refusal({ subject: "x".repeat(101) })).toMatchObject({ permanent: true });
    expect(refusal({ subject: "é".repeat(100) })).toBe(undefined);
  });

  it("parses a configured sender with or without a display name", () => {
    expect(parseMailbox("TechCorp <no-reply@techcorp.example>")).toEqual({
      address: "no-reply@techcorp.example",
      name: "TechCorp",
    });
    expect(parseMailbox("no-reply@techcorp.example")).toEqual({ address: "no-reply@techcorp.example" });
    expect(parseMailbox('"Tech" <no-reply@techcorp.example>')).toBeUndefined();
    expect(parseMailbox("TechCorp <not an address>")).toBeUndefined();
  });
});

describe("mail configuration", () => {
  const problemsOf = (env: Record<string, unknown>): string[] => {
    try {
      loadProcessorConfig(env);
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  };
  const valid = () => ({ ...testEnv }) as Record<string, unknown>;

  it("reads the stack's SMTP settings: plain SMTP with AUTH, outside production", () => {
    const config = loadProcessorConfig(valid());
    expect(config.mail).toMatchObject({
      from: { address: "no-reply@techcorp.test", name: "TechCorp" },
      smtp: { host: "127.0.0.1", security: "none", credentials: { username: "unit", password: "unit" } },
    });
    expect(config.mail?.smtp.timeoutMs).toBe(30_000);
  });

  it("refuses SMTP without TLS, and no SMTP at all, in production", () => {
    const production = { ...valid(), ENVIRONMENT: "production" };
    expect(problemsOf(production)).toContain("SMTP_SECURITY: must be starttls or tls in production");
    expect(problemsOf({ ...production, SMTP_HOST: "" })).toContain("SMTP_HOST: required in production");
    expect(problemsOf({ ...production, SMTP_SECURITY: "starttls" }).filter((p) => p.startsWith("SMTP"))).toEqual([]);
  });

  it("runs without mail outside production when no SMTP server is set", () => {
    expect(loadProcessorConfig({ ...valid(), SMTP_HOST: "" }).mail).toBeUndefined();
  });

  it("needs a sender and both credentials or neither, naming them without their values", () => {
    expect(problemsOf({ ...valid(), MAIL_FROM: "" })).toEqual(["MAIL_FROM: required with SMTP_HOST"]);
    expect(problemsOf({ ...valid(), SMTP_PASSWORD: "" })).toEqual([
      "SMTP_PASSWORD: SMTP_USERNAME and SMTP_PASSWORD go together",
    ]);
    const problems = problemsOf({ ...valid(), MAIL_FROM: "TechCorp <hunter2>", SMTP_SECURITY: "ssl" });
    expect(problems.map((p) => p.split(":")[0]).sort()).toEqual(["MAIL_FROM", "SMTP_SECURITY"]);
    expect(problems.join(" ")).not.toContain("hunter2");
  });
});
