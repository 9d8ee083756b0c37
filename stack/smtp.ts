import http from "node:http";
import type { AddressInfo } from "node:net";
import { type AddressObject, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

export interface MailServerOptions {
  /** The SMTP port (submission, plain: no TLS) and the web inbox's port. */
  smtpPort: number;
  inboxPort: number;
  /** The only credentials AUTH accepts: a wrong password is refused (535), as a provider would. */
  username: string;
  password: string;
}

/** One message as the inbox keeps it: the envelope, the parsed headers and both parts. */
export interface StoredMail {
  id: string;
  receivedAt: string;
  /** The SMTP envelope (MAIL FROM, RCPT TO), which decides who receives it. */
  envelope: { from: string; to: string[] };
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  /** Header fields, lower-cased names, each field's last value as text. */
  headers: Record<string, string>;
  /** Size of the message as sent (DATA), in bytes. */
  size: number;
}

export interface MailServer {
  /** `host:port` of SMTP. */
  readonly smtpAddress: string;
  readonly smtpPort: number;
  /** The web inbox: `/` lists the messages, `/api/messages` as JSON. */
  readonly inboxUrl: string;
  readonly username: string;
  readonly password: string;
  close(): Promise<void>;
}

/** Most messages kept (oldest dropped first): the inbox lives in memory. */
const KEPT = 1000;
/** Largest message accepted (SIZE, RFC 1870), in bytes. */
const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

/** A refusal with an SMTP reply code, as smtp-server sends it. */
const refusal = (code: number, message: string) => Object.assign(new Error(message), { responseCode: code });

const addresses = (value: AddressObject | AddressObject[] | undefined): string[] =>
  (Array.isArray(value) ? value : value ? [value] : []).flatMap((group) =>
    group.value.map((address) => address.address ?? ""),
  );

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * A real SMTP server for the local stack (nodemailer's `smtp-server`, messages parsed by
 * `mailparser`) with a web inbox. It requires AUTH (PLAIN or LOGIN) with the stack's credentials
 * before MAIL FROM, over plain TCP on loopback: workerd trusts only public certificate authorities,
 * so a local STARTTLS would need a certificate it cannot be told to trust; the workers use
 * `SMTP_SECURITY=none` here, which production configuration refuses.
 *
 * Two kinds of recipient stand for a provider's refusals, for the tests: `refuse-…@` is refused
 * for good (550), `defer-…@` for now (451).
 *
 * The inbox: `GET /` (a page listing the messages, newest first), `GET /messages/{id}` (one, its
 * text and its HTML in a sandboxed frame), `GET /api/messages?to=<address>` (JSON, newest first,
 * each a {@link StoredMail}), `GET /api/messages/{id}`, `DELETE /api/messages` (empties it).
 */
export async function startMailServer(options: MailServerOptions): Promise<MailServer> {
  const inbox: StoredMail[] = [];
  const smtp = new SMTPServer({
    name: "techcorp-local-mail",
    banner: "local mail server of the TechCorp stack",
    secure: false,
    disabledCommands: ["STARTTLS"],
    authMethods: ["PLAIN", "LOGIN"],
    authOptional: false,
    allowInsecureAuth: true,
    size: MAX_MESSAGE_BYTES,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === options.username && auth.password === options.password) {
        callback(null, { user: auth.username });
      } else {
        callback(refusal(535, "Authentication credentials invalid"));
      }
    },
    onRcptTo(address, _session, callback) {
      if (address.address.startsWith("refuse-")) return callback(refusal(550, "No such user here"));
      if (address.address.startsWith("defer-")) return callback(refusal(451, "Try again later"));
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks);
        simpleParser(raw)
          .then((parsed) => {
            const headers: Record<string, string> = {};
            for (const line of parsed.headerLines) {
              headers[line.key] = line.line.slice(line.line.indexOf(":") + 1).trim();
            }
            inbox.unshift({
              id: crypto.randomUUID(),
              receivedAt: new Date().toISOString(),
              envelope: {
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
                to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
              },
              from: addresses(parsed.from)[0] ?? "",
              to: addresses(parsed.to),
              subject: parsed.subject ?? "",
              text: parsed.text ?? "",
              html: typeof parsed.html === "string" ? parsed.html : "",
              headers,
              size: raw.length,
            });
            inbox.splice(KEPT);
            callback();
          })
          .catch((error: unknown) => callback(error instanceof Error ? error : new Error(String(error))));
      });
    },
  });
  smtp.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    smtp.server.once("error", reject);
    smtp.listen(options.smtpPort, "127.0.0.1", () => resolve());
  });
  const smtpPort = (smtp.server.address() as AddressInfo).port;

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  };
  const page = (res: http.ServerResponse, title: string, body: string) => {
    res
      .writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        // The mails' HTML is shown in a sandboxed frame; nothing else runs.
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; img-src data:",
      })
      .end(
        `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
          `<body style="font-family:sans-serif;max-width:960px;margin:1em auto">${body}</body></html>`,
      );
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://inbox.local");
    const one = /^\/(api\/)?messages\/([\w-]+)$/.exec(url.pathname);
    if (req.method === "GET" && url.pathname === "/api/messages") {
      const to = url.searchParams.get("to")?.toLowerCase();
      return json(
        res,
        200,
        to ? inbox.filter((mail) => mail.envelope.to.some((rcpt) => rcpt.toLowerCase() === to)) : inbox,
      );
    }
    if (req.method === "DELETE" && url.pathname === "/api/messages") {
      inbox.splice(0);
      return res.writeHead(204).end();
    }
    if (req.method === "GET" && one) {
      const mail = inbox.find((stored) => stored.id === one[2]);
      if (!mail) return json(res, 404, { error: "no such message" });
      if (one[1]) return json(res, 200, mail);
      return page(
        res,
        mail.subject,
        `<p><a href="/">Inbox</a></p><h1>${escapeHtml(mail.subject)}</h1>` +
          `<p>From ${escapeHtml(mail.from)} to ${escapeHtml(mail.envelope.to.join(", "))}, ${escapeHtml(mail.receivedAt)}</p>` +
          `<h2>HTML</h2><iframe sandbox srcdoc="${escapeHtml(mail.html)}" style="width:100%;height:420px;border:1px solid #ccc"></iframe>` +
          `<h2>Text</h2><pre style="white-space:pre-wrap">${escapeHtml(mail.text)}</pre>` +
          `<h2>Headers</h2><pre>${escapeHtml(
            Object.entries(mail.headers)
              .map(([k, v]) => `${k}: ${v}`)
              .join("\n"),
          )}</pre>`,
      );
    }
    if (req.method === "GET" && url.pathname === "/") {
      const rows = inbox
        .map(
          (mail) =>
            `<tr><td>${escapeHtml(mail.receivedAt)}</td><td>${escapeHtml(mail.envelope.to.join(", "))}</td>` +
            `<td><a href="/messages/${mail.id}">${escapeHtml(mail.subject || "(no subject)")}</a></td></tr>`,
        )
        .join("");
      return page(
        res,
        "Local inbox",
        `<h1>Local inbox</h1><p>${inbox.length} message(s), newest first; JSON at <code>/api/messages</code>.</p>` +
          `<table cellpadding="4"><tr><th>Received</th><th>To</th><th>Subject</th></tr>${rows}</table>`,
      );
    }
    json(res, 404, { error: "not found" });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.inboxPort, "127.0.0.1", () => resolve());
  });
  const inboxPort = (server.address() as AddressInfo).port;

  return {
    smtpAddress: `127.0.0.1:${smtpPort}`,
    smtpPort,
    inboxUrl: `http://127.0.0.1:${inboxPort}`,
    username: options.username,
    password: options.password,
    close: async () => {
      server.closeAllConnections();
      await Promise.all([
        new Promise<void>((resolve) => server.close(() => resolve())),
        new Promise<void>((resolve) => smtp.close(() => resolve())),
      ]);
    },
  };
}
