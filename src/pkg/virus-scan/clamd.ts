import { connect } from "cloudflare:sockets";
import { DeadlineExceededError, withDeadline } from "../errors/deadline.ts";
import { timeCall } from "../metrics/recorder.ts";

/**
 * A client for ClamAV's clamd over TCP, using its `INSTREAM` command: the file is sent as chunks
 * of `<4-byte big-endian length><bytes>`, ended by a zero length, and clamd answers one line,
 * `stream: OK` or `stream: <signature> FOUND`. The file streams through; nothing is buffered.
 */

/** clamd's verdict: clean, or infected with the signature it matched (e.g. `Eicar-Test-Signature`). */
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

/**
 * Parses clamd's reply to INSTREAM (`stream: OK`, `stream: <signature> FOUND`). Throws
 * `ScanRefusedError` for a size-limit error, `ScannerUnavailableError` for any other.
 */
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

/** Bounds one step of a session by the client's deadline (see `createClamd`). */
type Within = <T>(work: Promise<T>, what: string) => Promise<T>;

/** A clamd daemon, one TCP session per call (clamd's `INSTREAM` and `PING` commands, clamd(8)). */
export interface Clamd {
  /**
   * Streams `body` to clamd in frames of at most 256 KiB (never buffered whole) and returns its
   * verdict. Throws `ScanRefusedError` when clamd refuses this file (past its `StreamMaxLength`),
   * `ScannerUnavailableError` when it cannot be reached, stops answering (a step past the
   * deadline) or answers anything else; an error reading `body` itself propagates as it is.
   */
  scan(body: ReadableStream<Uint8Array>): Promise<ScanVerdict>;
  /** `PING` → `PONG`: the daemon is up. */
  ping(): Promise<void>;
}

/**
 * A clamd client. `timeoutMs` (default 60 s) bounds each step, not the whole scan: connecting,
 * every write of the file (a daemon that stops reading blocks them), and the answer after the last
 * byte. A step past it closes the socket and throws `ScannerUnavailableError` whose cause is a
 * `DeadlineExceededError`, so a hung daemon means a retry, while a large file that keeps moving is
 * never cut. Reading the file from its source is the source's business (storage has its own).
 */
export function createClamd(options: { address: string; timeoutMs?: number }): Clamd {
  const [hostname = "", portText = ""] = splitAddress(options.address);
  const port = Number(portText);
  const timeoutMs = options.timeoutMs ?? 60_000;

  // Each session (a scan, a ping) timed as a dependency call, connecting included.
  const session = <T>(operation: string, run: (socket: Socket, within: Within) => Promise<T>): Promise<T> =>
    timeCall("clamd", operation, () => openSession(run));

  async function openSession<T>(run: (socket: Socket, within: Within) => Promise<T>): Promise<T> {
    let socket: Socket;
    try {
      socket = connect({ hostname, port });
    } catch (error) {
      throw new ScannerUnavailableError(`cannot connect to clamd at ${options.address}`, { cause: error });
    }
    const within: Within = (work, what) =>
      withDeadline(work, new DeadlineExceededError("clamd", timeoutMs, what), () => {
        socket.close().catch(() => {});
      }).catch((error: unknown) => {
        if (error instanceof DeadlineExceededError) {
          throw new ScannerUnavailableError(`clamd did not answer: ${error.message}`, { cause: error });
        }
        throw error;
      });
    try {
      try {
        await within(socket.opened, "connect");
      } catch (error) {
        if (error instanceof ScannerUnavailableError) throw error;
        throw new ScannerUnavailableError(`cannot connect to clamd at ${options.address}`, { cause: error });
      }
      return await run(socket, within);
    } finally {
      await socket.close().catch(() => {});
    }
  }

  return {
    scan(body) {
      return session("INSTREAM", async (socket, within) => {
        const writer = socket.writable.getWriter();
        const replied = readReply(socket.readable);
        // Awaited below, unless a write fails first; then its rejection has nowhere to go.
        replied.catch(() => {});
        // If clamd stops reading (size limit), writes fail but its reply says why.
        let writeError: unknown;
        try {
          await within(writer.write(new TextEncoder().encode("zINSTREAM\0")), "write");
          const reader = body.getReader();
          try {
            for (;;) {
              // A failing source (storage) is its own error, not clamd's: it propagates as is.
              const { value, done } = await reader.read().catch((error: unknown) => {
                throw new SourceError(error);
              });
              if (done) break;
              for (let offset = 0; offset < value.length; offset += MAX_FRAME_BYTES) {
                await within(writer.write(frame(value.subarray(offset, offset + MAX_FRAME_BYTES))), "write");
              }
            }
          } finally {
            await reader.cancel().catch(() => {});
          }
          await within(writer.write(new Uint8Array(4)), "write");
        } catch (error) {
          if (error instanceof SourceError) throw error.cause;
          // A daemon that stopped reading at a deadline will not answer either.
          if (error instanceof ScannerUnavailableError) throw error;
          writeError = error;
        }
        let reply: string;
        try {
          reply = await within(replied, "answer");
        } catch (error) {
          if (error instanceof ScannerUnavailableError) throw error;
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
      return session("PING", async (socket, within) => {
        const writer = socket.writable.getWriter();
        await within(writer.write(new TextEncoder().encode("zPING\0")), "write");
        const reply = await within(readReply(socket.readable), "answer");
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
