import net from "node:net";

/** A RESP2 reply, keeping status replies apart from bulk strings (the REST encoding treats them differently). */
export type Reply =
  | { kind: "status"; value: string }
  | { kind: "bulk"; value: Buffer | null }
  | { kind: "integer"; value: number }
  | { kind: "array"; value: Reply[] | null }
  | { kind: "error"; value: string };

const CRLF = Buffer.from("\r\n");

export function encodeCommand(args: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) parts.push(Buffer.from(`$${arg.length}\r\n`), arg, CRLF);
  return Buffer.concat(parts);
}

/** Parses one reply starting at `offset`; `undefined` when the buffer does not hold all of it yet. */
export function parseReply(buffer: Buffer, offset: number): { reply: Reply; next: number } | undefined {
  const lineEnd = buffer.indexOf(CRLF, offset);
  if (lineEnd === -1) return undefined;
  const type = String.fromCharCode(buffer[offset] ?? 0);
  const line = buffer.toString("utf8", offset + 1, lineEnd);
  const afterLine = lineEnd + 2;
  switch (type) {
    case "+":
      return { reply: { kind: "status", value: line }, next: afterLine };
    case "-":
      return { reply: { kind: "error", value: line }, next: afterLine };
    case ":":
      return { reply: { kind: "integer", value: Number(line) }, next: afterLine };
    case "$": {
      const length = Number(line);
      if (length < 0) return { reply: { kind: "bulk", value: null }, next: afterLine };
      if (buffer.length < afterLine + length + 2) return undefined;
      return {
        reply: { kind: "bulk", value: buffer.subarray(afterLine, afterLine + length) },
        next: afterLine + length + 2,
      };
    }
    case "*": {
      const count = Number(line);
      if (count < 0) return { reply: { kind: "array", value: null }, next: afterLine };
      const items: Reply[] = [];
      let cursor = afterLine;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, cursor);
        if (!item) return undefined;
        items.push(item.reply);
        cursor = item.next;
      }
      return { reply: { kind: "array", value: items }, next: cursor };
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`);
  }
}

interface Waiter {
  remaining: number;
  replies: Reply[];
  resolve: (replies: Reply[]) => void;
  reject: (error: Error) => void;
}

/**
 * One pipelined connection: commands written together are answered in order, so a batch
 * written in a single `write` (MULTI … EXEC) is never interleaved with another caller's.
 */
class Connection {
  private readonly port: number;
  private readonly host: string;
  private socket: net.Socket | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private readonly waiters: Waiter[] = [];

  constructor(port: number, host: string) {
    this.port = port;
    this.host = host;
  }

  get pending(): number {
    return this.waiters.length;
  }

  send(commands: readonly (readonly Buffer[])[]): Promise<Reply[]> {
    const socket = this.connect();
    return new Promise((resolve, reject) => {
      this.waiters.push({ remaining: commands.length, replies: [], resolve, reject });
      socket.write(Buffer.concat(commands.map(encodeCommand)));
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private connect(): net.Socket {
    if (this.socket && !this.socket.destroyed) return this.socket;
    const socket = net.connect(this.port, this.host);
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    const fail = (error: Error) => {
      if (this.socket === socket) this.socket = undefined;
      this.buffer = Buffer.alloc(0);
      for (const waiter of this.waiters.splice(0)) waiter.reject(error);
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("connection to redis closed")));
    this.socket = socket;
    return socket;
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let offset = 0;
    for (;;) {
      const waiter = this.waiters[0];
      if (!waiter) break;
      const parsed = parseReply(this.buffer, offset);
      if (!parsed) break;
      offset = parsed.next;
      waiter.replies.push(parsed.reply);
      waiter.remaining -= 1;
      if (waiter.remaining === 0) {
        this.waiters.shift();
        waiter.resolve(waiter.replies);
      }
    }
    this.buffer = this.buffer.subarray(offset);
  }
}

/** A few pipelined connections to one Redis server; each call goes to the least busy one. */
export class RedisPool {
  private readonly connections: Connection[];

  constructor(port: number, host = "127.0.0.1", size = 4) {
    this.connections = Array.from({ length: size }, () => new Connection(port, host));
  }

  async command(args: readonly Buffer[]): Promise<Reply> {
    const [reply] = await this.pick().send([args]);
    if (!reply) throw new Error("redis sent no reply");
    return reply;
  }

  batch(commands: readonly (readonly Buffer[])[]): Promise<Reply[]> {
    return this.pick().send(commands);
  }

  close(): void {
    for (const connection of this.connections) connection.close();
  }

  private pick(): Connection {
    let best = this.connections[0];
    for (const connection of this.connections) if (best && connection.pending < best.pending) best = connection;
    if (!best) throw new Error("empty redis pool");
    return best;
  }
}
