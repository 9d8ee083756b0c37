import { connect } from "cloudflare:sockets";

/**
 * A client for ClamAV's clamd over TCP, using its `INSTREAM` command: the file is sent as chunks
 * of `<4-byte big-endian length><bytes>`, ended by a zero length, and clamd answers one line,
 * `stream: OK` or `stream: <signature> FOUND`. The file streams through; nothing is buffered.
 */

export type ScanVerdict = { infected: false } | { infected: true; signature: string };

/** clamd could not be reached or did not answer: worth retrying later. */
export class ScannerUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ScannerUnavailableError";
  }
}

/** clamd answered with an error about this file (for example its size limit): retrying will not help. */
export class ScanRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ScanRefusedError";
  }
}

/** Chunks larger than this are split, so one frame never exceeds what clamd reads at once. */
const MAX_FRAME_BYTES = 256 * 1024;
const MAX_REPLY_BYTES = 4096;

class SourceError extends Error {
  constructor(cause: unknown) {
    super("reading the file failed", { cause });
  }
}

function frame(chunk: Uint8Array): Uint8Array {
  const framed = new Uint8Array(4 + chunk.length);
  new DataView(framed.buffer).setUint32(0, chunk.length, false);
  framed.set(chunk, 4);
  return framed;
}

/** Parses clamd's reply to INSTREAM. */
export function parseReply(reply: string): ScanVerdict {
  const line = reply.replace(/\0.*$/s, "").trim();
  if (/^stream: OK$/.test(line)) return { infected: false };
  const found = /^stream: (.+) FOUND$/.exec(line);
  if (found?.[1]) return { infected: true, signature: found[1] };
  if (/size limit exceeded/i.test(line))
    throw new ScanRefusedError(`the file is larger than the virus scanner accepts (${line})`);
  if (/ERROR$/.test(line)) throw new ScannerUnavailableError(`clamd: ${line}`);
  throw new ScannerUnavailableError(`unexpected answer from clamd: ${JSON.stringify(line.slice(0, 200))}`);
}

async function readReply(readable: ReadableStream<Uint8Array>): Promise<string> {
  const reader = readable.getReader();
  const decoder = new TextDecoder();
  let reply = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      reply += decoder.decode(value, { stream: true });
      if (reply.includes("\0") || reply.includes("\n") || reply.length > MAX_REPLY_BYTES) break;
    }
  } finally {
    reader.releaseLock();
  }
  return reply;
}

export interface Clamd {
  scan(body: ReadableStream<Uint8Array>): Promise<ScanVerdict>;
  /** `PING` → `PONG`: the daemon is up. */
  ping(): Promise<void>;
}

export function createClamd(options: { address: string; timeoutMs?: number }): Clamd {
  const [hostname = "", portText = ""] = splitAddress(options.address);
  const port = Number(portText);
  const timeoutMs = options.timeoutMs ?? 120_000;

  async function session<T>(run: (socket: Socket) => Promise<T>): Promise<T> {
    let socket: Socket;
    try {
      socket = connect({ hostname, port });
      await socket.opened;
    } catch (error) {
      throw new ScannerUnavailableError(`cannot connect to clamd at ${options.address}`, { cause: error });
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ScannerUnavailableError(`clamd did not answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([run(socket), timeout]);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      await socket.close().catch(() => {});
    }
  }

  return {
    scan(body) {
      return session(async (socket) => {
        const writer = socket.writable.getWriter();
        const replied = readReply(socket.readable);
        // If clamd stops reading (size limit), writes fail but its reply says why.
        let writeError: unknown;
        try {
          await writer.write(new TextEncoder().encode("zINSTREAM\0"));
          const reader = body.getReader();
          try {
            for (;;) {
              // A failing source (storage) is its own error, not clamd's: it propagates as is.
              const { value, done } = await reader.read().catch((error: unknown) => {
                throw new SourceError(error);
              });
              if (done) break;
              for (let offset = 0; offset < value.length; offset += MAX_FRAME_BYTES) {
                await writer.write(frame(value.subarray(offset, offset + MAX_FRAME_BYTES)));
              }
            }
          } finally {
            await reader.cancel().catch(() => {});
          }
          await writer.write(new Uint8Array(4));
        } catch (error) {
          if (error instanceof SourceError) throw error.cause;
          writeError = error;
        }
        let reply: string;
        try {
          reply = await replied;
        } catch (error) {
          throw new ScannerUnavailableError("clamd closed the connection without an answer", {
            cause: writeError ?? error,
          });
        }
        if (reply === "")
          throw new ScannerUnavailableError("clamd closed the connection without an answer", { cause: writeError });
        return parseReply(reply);
      });
    },

    ping() {
      return session(async (socket) => {
        const writer = socket.writable.getWriter();
        await writer.write(new TextEncoder().encode("zPING\0"));
        const reply = await readReply(socket.readable);
        if (!reply.startsWith("PONG"))
          throw new ScannerUnavailableError(`clamd answered ${JSON.stringify(reply)} to PING`);
      });
    },
  };
}

function splitAddress(address: string): [string, string] {
  const at = address.lastIndexOf(":");
  return [address.slice(0, at), address.slice(at + 1)];
}
