import { connect } from "cloudflare:sockets";
import { Email } from "worker-mailer";
import { DeadlineExceededError, withDeadline } from "../errors/deadline.ts";
import { timeCall } from "../metrics/recorder.ts";
import { assertSendable, MailDeliveryError, type Mailer, type MailReceipt } from "./mailer.ts";

/**
 * Mail submission (RFC 6409) over `cloudflare:sockets`: one SMTP session per message (RFC 5321),
 * TLS by STARTTLS (RFC 3207) or from the first byte (RFC 8314 §3.3), then AUTH (RFC 4954) with
 * PLAIN (RFC 4616) or LOGIN. The message itself (MIME, quoted-printable parts, RFC 2047 encoded
 * words, dot-stuffing) is built by `worker-mailer`'s `Email`; its SMTP client is not used, because it
 * carries on without TLS when a server does not offer STARTTLS (credentials then travel in clear)
 * and spins forever on a connection the server closed.
 */

/**
 * How the connection is secured: `starttls` (port 587: plain, then upgraded; refused if the server
 * does not offer it), `tls` (port 465: TLS from the start), `none` (no TLS at all: local servers only,
 * which configuration refuses in production).
 */
export type SmtpSecurity = "starttls" | "tls" | "none";

export interface SmtpConfig {
  host: string;
  port: number;
  security: SmtpSecurity;
  /** Credentials for AUTH; without them no AUTH is attempted (a relay that needs none). */
  credentials?: { username: string; password: string } | undefined;
  /** Deadline of each step (connecting, every reply awaited), in ms. */
  timeoutMs: number;
}

/** The longest reply read, in characters: more is a broken or hostile server. */
const MAX_REPLY_CHARS = 64 * 1024;

/** A reply (RFC 5321 §4.2): its three-digit code and the text of each line. */
interface Reply {
  code: number;
  lines: string[];
}

const describe = (reply: Reply) => `${reply.code} ${reply.lines.join(" / ")}`.slice(0, 500);

/** The connection ended, or the server said something that is not SMTP. */
class ProtocolError extends Error {}

/** Reads replies line by line; whatever the server sent beyond the last reply stays buffered. */
class ReplyReader {
  private buffered = "";
  private readonly decoder = new TextDecoder();
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(reader: ReadableStreamDefaultReader<Uint8Array>) {
    this.reader = reader;
  }

  /** Whether the server sent bytes not yet read as a reply (none may follow STARTTLS's 220: RFC 3207 §5). */
  get pending(): boolean {
    return this.buffered.length > 0;
  }

  async read(): Promise<Reply> {
    const lines: string[] = [];
    for (;;) {
      const end = this.buffered.indexOf("\n");
      if (end === -1) {
        if (this.buffered.length > MAX_REPLY_CHARS) throw new ProtocolError("the server's reply is too long");
        const { value, done } = await this.reader.read();
        if (done) throw new ProtocolError("the server closed the connection");
        this.buffered += this.decoder.decode(value, { stream: true });
        continue;
      }
      const line = this.buffered.slice(0, end).replace(/\r$/, "");
      this.buffered = this.buffered.slice(end + 1);
      const parsed = /^([2-5]\d\d)([ -]|$)(.*)$/.exec(line);
      if (!parsed) throw new ProtocolError(`not an SMTP reply: ${JSON.stringify(line.slice(0, 200))}`);
      lines.push(parsed[3] ?? "");
      if (parsed[2] !== "-") return { code: Number(parsed[1]), lines };
      if (lines.length > 1000) throw new ProtocolError("the server's reply has too many lines");
    }
  }

  release(): void {
    this.reader.releaseLock();
  }
}

const encoder = new TextEncoder();

/** Base64 of a string's UTF-8 bytes (AUTH PLAIN and LOGIN carry UTF-8: RFC 4616 §2). */
const base64 = (text: string) => btoa(String.fromCharCode(...encoder.encode(text)));

/**
 * An SMTP submission mailer. Each `send` opens its own session and closes it; see `Mailer.send`
 * for what it resolves and throws. Failures are decided as RFC 5321 §4.2.1 says: a 5xx to MAIL,
 * RCPT, DATA or the message is permanent; a 4xx, no answer, a closed connection, a server without
 * STARTTLS when it is required, and any refusal while the session is set up (greeting, EHLO,
 * STARTTLS, AUTH: the server's state or our credentials, not this message) are transient.
 */
export function createSmtpMailer(config: SmtpConfig): Mailer {
  return {
    async send(message) {
      assertSendable(message);
      const domain = message.from.address.slice(message.from.address.lastIndexOf("@") + 1);
      const messageId = message.headers?.["Message-ID"] ?? `<${crypto.randomUUID()}@${domain}>`;
      const email = new Email({
        from: message.from.name ? { name: message.from.name, email: message.from.address } : message.from.address,
        to: message.to,
        subject: message.subject,
        text: message.text,
        html: message.html,
        // `Email` adds From, To, Subject and Date to the object it is given: a copy of ours.
        headers: { ...message.headers, "Message-ID": messageId },
      });
      // The whole session (connect, TLS, AUTH, the transaction) timed as one dependency call.
      const reply = await timeCall("smtp", "send", () =>
        session(config, domain, async (step) => {
          await step.expect(`MAIL FROM:<${message.from.address}>`, [250], "message");
          await step.expect(`RCPT TO:<${message.to}>`, [250, 251], "message");
          await step.expect("DATA", [354], "message");
          // Dot-stuffed, CRLF line ends, ended by "<CRLF>.<CRLF>" (RFC 5321 §4.5.2).
          return step.expectRaw(email.getEmailData(), [250], "message");
        }),
      );
      return { messageId, reply: describe(reply) } satisfies MailReceipt;
    },
  };
}

/** One command and its awaited reply, as `session` gives them to the transaction. */
interface Steps {
  expect(command: string, codes: number[], phase: Phase): Promise<Reply>;
  expectRaw(data: string, codes: number[], phase: Phase): Promise<Reply>;
}

/** `setup`: greeting, EHLO, STARTTLS, AUTH; `message`: the mail transaction itself. */
type Phase = "setup" | "message";

async function session(
  config: SmtpConfig,
  heloName: string,
  transaction: (steps: Steps) => Promise<Reply>,
): Promise<Reply> {
  const where = `${config.host}:${config.port}`;
  let socket: Socket;
  try {
    socket = connect(
      { hostname: config.host, port: config.port },
      {
        secureTransport: config.security === "tls" ? "on" : config.security === "starttls" ? "starttls" : "off",
        allowHalfOpen: false,
      },
    );
  } catch (error) {
    throw new MailDeliveryError(`cannot connect to the SMTP server at ${where}`, { permanent: false, cause: error });
  }
  let reader = new ReplyReader(socket.readable.getReader());
  let writer = socket.writable.getWriter();
  const within = <T>(work: Promise<T>, what: string) =>
    withDeadline(work, new DeadlineExceededError("smtp", config.timeoutMs, what), () => {
      socket.close().catch(() => {});
    });

  const refused = (reply: Reply, sent: string, phase: Phase) =>
    new MailDeliveryError(`the SMTP server refused ${sent}: ${describe(reply)}`, {
      permanent: phase === "message" && reply.code >= 500,
      replyCode: reply.code,
    });
  const awaitReply = async (codes: number[], sent: string, phase: Phase) => {
    const reply = await within(reader.read(), "reply");
    if (!codes.includes(reply.code)) throw refused(reply, sent, phase);
    return reply;
  };
  const write = (data: string) => within(writer.write(encoder.encode(data)), "write");
  // The command's verb only, in errors and logs: never a credential (AUTH LOGIN sends them as lines).
  const verb = (command: string) => /^(EHLO|STARTTLS|MAIL FROM|RCPT TO|DATA|QUIT)\b/.exec(command)?.[1] ?? "AUTH";
  const steps: Steps = {
    async expect(command, codes, phase) {
      await write(`${command}\r\n`);
      return awaitReply(codes, verb(command), phase);
    },
    async expectRaw(data, codes, phase) {
      await write(data);
      return awaitReply(codes, "the message", phase);
    },
  };
  const ehlo = async () => {
    const reply = await steps.expect(`EHLO ${heloName}`, [250], "setup");
    // Each line after the first names an extension and its parameters (RFC 5321 §4.1.1.1).
    return reply.lines.slice(1).map((line) => line.toUpperCase().split(/\s+/));
  };

  try {
    await within(socket.opened, "connect");
    await awaitReply([220], "the connection", "setup");
    let extensions = await ehlo();
    if (config.security === "starttls") {
      if (!extensions.some(([keyword]) => keyword === "STARTTLS")) {
        throw new MailDeliveryError(`the SMTP server at ${where} does not offer STARTTLS; nothing was sent in clear`, {
          permanent: false,
        });
      }
      await steps.expect("STARTTLS", [220], "setup");
      // Anything already sent after the 220 came before TLS: it must not be read as a reply within it.
      if (reader.pending) throw new ProtocolError("the server sent data before the TLS handshake");
      reader.release();
      writer.releaseLock();
      socket = socket.startTls();
      reader = new ReplyReader(socket.readable.getReader());
      writer = socket.writable.getWriter();
      // The session starts again: capabilities learnt before TLS are discarded (RFC 3207 §4.2).
      extensions = await ehlo();
    }
    if (config.credentials) await authenticate(steps, extensions, config.credentials, where);
    const reply = await transaction(steps);
    await write("QUIT\r\n").catch(() => {});
    return reply;
  } catch (error) {
    if (error instanceof MailDeliveryError) throw error;
    const reason =
      error instanceof DeadlineExceededError
        ? `the SMTP server at ${where} did not answer: ${error.message}`
        : error instanceof ProtocolError
          ? `SMTP session with ${where} failed: ${error.message}`
          : `cannot reach the SMTP server at ${where}`;
    throw new MailDeliveryError(reason, { permanent: false, cause: error });
  } finally {
    socket.close().catch(() => {});
  }
}

/** AUTH PLAIN when offered, else AUTH LOGIN (RFC 4954). A refusal is transient: the credentials, not the message. */
async function authenticate(
  steps: Steps,
  extensions: string[][],
  credentials: { username: string; password: string },
  where: string,
): Promise<void> {
  const mechanisms = new Set(extensions.find(([keyword]) => keyword === "AUTH")?.slice(1) ?? []);
  if (mechanisms.has("PLAIN")) {
    await steps.expect(`AUTH PLAIN ${base64(`\0${credentials.username}\0${credentials.password}`)}`, [235], "setup");
  } else if (mechanisms.has("LOGIN")) {
    await steps.expect("AUTH LOGIN", [334], "setup");
    await steps.expect(base64(credentials.username), [334], "setup");
    await steps.expect(base64(credentials.password), [235], "setup");
  } else {
    throw new MailDeliveryError(`the SMTP server at ${where} offers neither AUTH PLAIN nor AUTH LOGIN`, {
      permanent: false,
    });
  }
}
