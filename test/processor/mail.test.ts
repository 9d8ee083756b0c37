import { describe, expect, it } from "vitest";
import { enqueueMail } from "../../src/notifications/mail.ts";
import { buildEvent, createNotificationPublisher, MailRequestedSchema } from "../../src/pkg/queue/events.ts";
import { BASE_DELAY_SECONDS } from "../../src/processor/backoff.ts";
import { captureLines } from "../console-lines.ts";
import { inboxUrl, mailsTo, waitForMail } from "../mail-helpers.ts";
import { deliver, testEnv } from "./helpers.ts";

const SUBJECT = "Someone tried to register with your address";

const address = (prefix = "owner") => `${prefix}-${crypto.randomUUID().slice(0, 12)}@example.com`;

/** A registration notice to `to`, as the API queues it. */
const notice = (to: string, params: Record<string, string> = {}) =>
  buildEvent(MailRequestedSchema, {
    type: "mail.requested",
    requestId: `req-mail-${crypto.randomUUID().slice(0, 8)}`,
    to,
    template: "account.registration-attempt",
    params: { email: to, attemptedAt: "2026-12-01T05:30:00.000Z", ...params },
  });

describe("mail: delivery through the queue into the stack's inbox", () => {
  it("sends a queued mail through the real queue and SMTP server: both parts, headers, links", async () => {
    const to = address();
    const event = await enqueueMail(createNotificationPublisher(testEnv.NOTIFICATIONS), {
      requestId: "req-mail-e2e",
      to,
      template: "account.registration-attempt",
      params: { email: to, attemptedAt: "2026-12-01T05:30:00.000Z", resetUrl: "https://app.example/reset?a=1&b=2" },
    });
    const mail = await waitForMail(to, SUBJECT);
    expect(mail.envelope).toEqual({ from: "no-reply@techcorp.test", to: [to] });
    expect(mail.from).toBe("no-reply@techcorp.test");
    expect(mail.subject).toBe(SUBJECT);
    expect(mail.headers["message-id"]).toBe(`<${event.id}@techcorp.test>`);
    expect(mail.headers["auto-submitted"]).toBe("auto-generated");
    expect(mail.headers["content-type"]).toMatch(/^multipart\//);
    expect(mail.text).toContain(
      `Someone tried to create a new TechCorp account with ${to} on 2026-12-01 at 05:30 UTC.`,
    );
    expect(mail.html).toContain(`<strong>${to}</strong>`);
    // The link, whole, in both parts (the HTML's `&` written as `&amp;`).
    expect(mail.links).toEqual(["https://app.example/reset?a=1&b=2", "https://app.example/reset?a=1&b=2"]);
    expect(mail.html).toContain('href="https://app.example/reset?a=1&amp;b=2"');
  });

  it("acks the message once the server took the mail, and logs the send with the request id", async () => {
    const to = address();
    const event = notice(to);
    let outcome: Awaited<ReturnType<typeof deliver>> | undefined;
    const lines = await captureLines(async () => {
      outcome = await deliver("notifications", [event], { LOG_LEVEL: "info" });
    });
    expect(outcome?.result.explicitAcks).toHaveLength(1);
    expect(outcome?.result.retryMessages).toEqual([]);
    const sent = lines.find((line) => line.message === "mail sent");
    expect(sent).toMatchObject({
      requestId: event.requestId,
      eventId: event.id,
      template: "account.registration-attempt",
      recipientDomain: "example.com",
      messageId: `<${event.id}@techcorp.test>`,
    });
    expect(String(sent?.reply)).toMatch(/^250 /);
    expect(await mailsTo(to)).toHaveLength(1);
  });
});

describe("mail: failures", () => {
  it("retries with backoff when the server refuses our credentials, and sends once they are right", async () => {
    const to = address();
    const event = notice(to);
    const refused = await deliver("notifications", [event], { SMTP_PASSWORD: "not-the-password" });
    expect(refused.result.retryMessages).toEqual([{ msgId: refused.ids[0] }]);
    expect(refused.delays.get(refused.ids[0] ?? "")).toBeGreaterThanOrEqual(BASE_DELAY_SECONDS / 2);
    expect(await mailsTo(to)).toEqual([]);
    // The redelivery, with the credentials put right: the mail is not lost.
    const retried = await deliver("notifications", [event], {}, 2);
    expect(retried.result.explicitAcks).toHaveLength(1);
    expect((await mailsTo(to)).map((mail) => mail.headers["message-id"])).toEqual([`<${event.id}@techcorp.test>`]);
  });

  it("retries when the server is down (nothing listens), with a longer delay on a later attempt", async () => {
    const to = address();
    const down = await deliver("notifications", [notice(to)], { SMTP_PORT: "9" }, 3);
    expect(down.result.retryMessages).toEqual([{ msgId: down.ids[0] }]);
    expect(down.delays.get(down.ids[0] ?? "")).toBeGreaterThanOrEqual((BASE_DELAY_SECONDS * 4) / 2);
    expect(await mailsTo(to)).toEqual([]);
  });

  it("sends nothing, credentials included, to a server that does not offer the STARTTLS required", async () => {
    // The stack's server offers no STARTTLS: as a server whose offer an attacker stripped would.
    const to = address();
    let outcome: Awaited<ReturnType<typeof deliver>> | undefined;
    const lines = await captureLines(async () => {
      outcome = await deliver("notifications", [notice(to)], { SMTP_SECURITY: "starttls", LOG_LEVEL: "warn" });
    });
    expect(outcome?.result.retryMessages).toEqual([{ msgId: outcome?.ids[0] }]);
    const warning = lines.find((line) => line.message === "mail not sent; retried");
    expect(JSON.stringify(warning)).toMatch(/does not offer STARTTLS; nothing was sent in clear/);
    expect(JSON.stringify(lines)).not.toContain(String(testEnv.SMTP_PASSWORD));
    expect(await mailsTo(to)).toEqual([]);
  });

  it("gives up on a server that never greets (past SMTP_TIMEOUT_MS) and retries", async () => {
    // The inbox's HTTP port accepts the connection and waits for a request: no SMTP greeting comes.
    const silentPort = new URL(inboxUrl()).port;
    const to = address();
    let outcome: Awaited<ReturnType<typeof deliver>> | undefined;
    const lines = await captureLines(async () => {
      outcome = await deliver("notifications", [notice(to)], {
        SMTP_PORT: silentPort,
        SMTP_TIMEOUT_MS: "300",
        LOG_LEVEL: "warn",
      });
    });
    expect(outcome?.result.retryMessages).toEqual([{ msgId: outcome?.ids[0] }]);
    expect(JSON.stringify(lines.find((line) => line.message === "mail not sent; retried"))).toMatch(
      /did not answer: smtp reply did not finish within 300 ms/,
    );
  });

  it("retries a temporary refusal (4xx)", async () => {
    const to = address("defer");
    const { ids, result } = await deliver("notifications", [notice(to)]);
    expect(result.retryMessages).toEqual([{ msgId: ids[0] }]);
  });

  it("does not retry a permanent refusal (5xx to the recipient): acked, logged, nothing delivered", async () => {
    const to = address("refuse");
    let outcome: Awaited<ReturnType<typeof deliver>> | undefined;
    const lines = await captureLines(async () => {
      outcome = await deliver("notifications", [notice(to)], { LOG_LEVEL: "warn" });
    });
    expect(outcome?.result.explicitAcks).toHaveLength(1);
    expect(outcome?.result.retryMessages).toEqual([]);
    expect(lines.find((line) => line.message === "mail refused for good; not retried")).toMatchObject({
      replyCode: 550,
    });
    expect(await mailsTo(to)).toEqual([]);
  });

  it("decides each mail of a batch on its own: sent, refused for good, retried", async () => {
    const [sent, refused, deferred] = [address(), address("refuse"), address("defer")];
    const { ids, result } = await deliver("notifications", [notice(sent), notice(refused), notice(deferred)]);
    expect(result.retryMessages).toEqual([{ msgId: ids[2] }]);
    expect(result.explicitAcks.sort()).toEqual([ids[0], ids[1]].sort());
    expect(await mailsTo(sent)).toHaveLength(1);
  });

  it("drops a mail of an unknown template or with parameters the template refuses, without retrying", async () => {
    const to = address();
    const unknown = { ...notice(to), template: "account.no-such-template" };
    const badParams = notice(to, { resetUrl: "javascript:alert(1)" });
    const { result } = await deliver("notifications", [unknown, badParams]);
    expect(result.explicitAcks).toHaveLength(2);
    expect(await mailsTo(to)).toEqual([]);
  });

  it("logs and drops a mail whose retries are spent (the dead-letter queue)", async () => {
    const to = address();
    let outcome: Awaited<ReturnType<typeof deliver>> | undefined;
    const lines = await captureLines(async () => {
      outcome = await deliver("notifications-dlq", [notice(to)], { LOG_LEVEL: "error" });
    });
    expect(outcome?.result.explicitAcks).toHaveLength(1);
    expect(lines.some((line) => line.message === "mail not sent after the retry limit; dropped")).toBe(true);
    expect(await mailsTo(to)).toEqual([]);
  });
});
