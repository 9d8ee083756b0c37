import { timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { RoundTripMeter } from "./distance.ts";
import { RedisPool, type Reply } from "./resp.ts";

export interface UpstashRestOptions {
  port: number;
  token: string;
  redis: { host: string; port: number };
  /**
   * Delays and counts every HTTP request as one round trip to "redis" (stack/distance.ts): a
   * pipeline or a transaction is one, as it is to Upstash's regional endpoint.
   */
  meter?: RoundTripMeter;
}

export interface UpstashRest {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

type Json = string | number | null | Json[];
type Outcome = { result: Json } | { error: string };

/**
 * Commands that would change the state of a pooled connection or hold it forever. Upstash's REST
 * API refuses them too; MULTI/EXEC goes through /multi-exec instead.
 */
const REFUSED = new Set([
  "multi",
  "exec",
  "discard",
  "watch",
  "unwatch",
  "select",
  "subscribe",
  "psubscribe",
  "ssubscribe",
  "unsubscribe",
  "punsubscribe",
  "sunsubscribe",
  "monitor",
  "quit",
  "reset",
  "hello",
  "auth",
  "blpop",
  "brpop",
  "blmove",
  "brpoplpush",
  "bzpopmin",
  "bzpopmax",
  "blmpop",
  "bzmpop",
  "xread",
  "xreadgroup",
  "wait",
]);

class RequestError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * Upstash's Redis REST protocol in front of a real redis-server, so that `@upstash/redis` runs
 * unmodified: `POST /` with a JSON command array, `POST /pipeline` and `POST /multi-exec` with an
 * array of them, path-style commands (`GET /get/key`), a Bearer token, and the base64 response
 * encoding the client asks for with `Upstash-Encoding: base64`.
 */
export async function startUpstashRest(options: UpstashRestOptions): Promise<UpstashRest> {
  const pool = new RedisPool(options.redis.port, options.redis.host);
  const expected = Buffer.from(`Bearer ${options.token}`);

  const meter = options.meter;
  const server = http.createServer((req, res) => {
    const end = meter?.begin("redis");
    res.once("close", () => end?.());
    // Half the round trip before the request reaches Redis, half before the answer leaves.
    const halfTrip = () => meter?.halfTrip() ?? Promise.resolve();
    halfTrip()
      .then(() => handle(req))
      .then(
        ({ status, body }) => halfTrip().then(() => send(res, status, body)),
        (error: unknown) =>
          halfTrip().then(() => {
            if (error instanceof RequestError) send(res, error.status, { error: error.message });
            else send(res, 503, { error: `ERR redis unavailable: ${(error as Error).message}` });
          }),
      );
  });

  async function handle(req: http.IncomingMessage): Promise<{ status: number; body: unknown }> {
    const auth = Buffer.from(req.headers.authorization ?? "");
    if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) {
      throw new RequestError(401, "Unauthorized");
    }
    const base64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
    const url = new URL(req.url ?? "/", "http://upstash");
    const raw = await readBody(req);

    if (req.method === "POST" && (url.pathname === "/pipeline" || url.pathname === "/multi-exec")) {
      const commands = parseCommands(raw);
      if (url.pathname === "/pipeline") {
        const replies = await pool.batch(commands.map(toArgs));
        return { status: 200, body: replies.map((reply) => outcome(reply, base64)) };
      }
      return multiExec(commands, base64);
    }

    let command: Json[];
    if (url.pathname === "/" || url.pathname === "") {
      if (req.method !== "POST") throw new RequestError(405, "ERR use POST with a JSON command array");
      command = parseCommand(parseJson(raw));
    } else {
      // Path style: /set/key/value, with a POST body appended as the last argument.
      command = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
      if (req.method === "POST" && raw.length > 0) command.push(raw.toString("utf8"));
    }
    const reply = await pool.command(toArgs(command));
    const result = outcome(reply, base64);
    return { status: "error" in result ? 400 : 200, body: result };
  }

  async function multiExec(commands: Json[][], base64: boolean): Promise<{ status: number; body: unknown }> {
    const multi = [Buffer.from("MULTI")];
    const exec = [Buffer.from("EXEC")];
    const replies = await pool.batch([multi, ...commands.map(toArgs), exec]);
    const execReply = replies[replies.length - 1];
    if (!execReply) throw new Error("redis sent no EXEC reply");
    if (execReply.kind === "error") {
      // EXECABORT: a command was refused while queueing; name it rather than the generic abort.
      const queued = replies.slice(1, -1).find((reply) => reply.kind === "error");
      throw new RequestError(400, queued?.kind === "error" ? queued.value : execReply.value);
    }
    if (execReply.kind !== "array" || execReply.value === null) {
      throw new RequestError(400, "ERR transaction aborted");
    }
    return { status: 200, body: execReply.value.map((reply) => outcome(reply, base64)) };
  }

  function parseCommands(raw: Buffer): Json[][] {
    const body = parseJson(raw);
    if (!Array.isArray(body) || body.length === 0) {
      throw new RequestError(400, "ERR expected a non-empty JSON array of commands");
    }
    return body.map(parseCommand);
  }

  function parseCommand(value: unknown): Json[] {
    if (!Array.isArray(value) || value.length === 0) {
      throw new RequestError(400, "ERR expected a non-empty JSON array command");
    }
    for (const arg of value) {
      if (typeof arg !== "string" && typeof arg !== "number" && typeof arg !== "boolean") {
        throw new RequestError(400, "ERR command arguments must be strings, numbers or booleans");
      }
    }
    const name = String(value[0]).toLowerCase();
    if (REFUSED.has(name)) throw new RequestError(400, `ERR command '${name}' is not supported over REST`);
    return value as Json[];
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });

  return {
    url: `http://127.0.0.1:${options.port}`,
    port: options.port,
    close: () =>
      new Promise((resolve) => {
        pool.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch {
    throw new RequestError(400, "ERR request body is not valid JSON");
  }
}

function toArgs(command: readonly Json[]): Buffer[] {
  return command.map((arg) => Buffer.from(String(arg)));
}

function outcome(reply: Reply, base64: boolean): Outcome {
  if (reply.kind === "error") return { error: reply.value };
  return { result: encode(reply, base64) };
}

/** Status "OK" stays plain (the client special-cases it); every other string is base64 when asked. */
function encode(reply: Reply, base64: boolean): Json {
  switch (reply.kind) {
    case "status":
      return base64 && reply.value !== "OK" ? Buffer.from(reply.value).toString("base64") : reply.value;
    case "bulk":
      if (reply.value === null) return null;
      return base64 ? reply.value.toString("base64") : reply.value.toString("utf8");
    case "integer":
      return reply.value;
    case "array":
      return reply.value === null ? null : reply.value.map((item) => encode(item, base64));
    case "error":
      // An error nested in an array (a failed command inside EXEC) is reported in place as text.
      return base64 ? Buffer.from(reply.value).toString("base64") : reply.value;
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
