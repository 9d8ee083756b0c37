import http from "node:http";
import net from "node:net";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import type { RoundTripMeter } from "./distance.ts";
import { createNeonHttpEndpoint } from "./neon-http.ts";

export interface NeonProxyOptions {
  port: number;
  /** Delays and counts the exchanges with Postgres (stack/distance.ts); see `NeonProxy.setMeter`. */
  meter?: RoundTripMeter;
}

export interface NeonProxy {
  /**
   * Host and port to put in `neonConfig.wsProxy`, without a scheme; Neon's HTTP endpoint answers
   * at `http://<address>/sql` (`neonConfig.fetchEndpoint`).
   */
  readonly address: string;
  readonly port: number;
  /** Lets clients reach this Postgres; nothing else is reachable (the proxy is not an open relay). */
  allow(postgresPort: number): void;
  /**
   * The meter that delays and counts exchanges from now on (undefined: none). A proxy shared by
   * two stacks takes the primary stack's.
   */
  setMeter(meter: RoundTripMeter | undefined): void;
  /** Connections currently relayed. */
  openConnections(): number;
  close(): Promise<void>;
}

/**
 * A one-way link that delivers each action `delayMs()` after it was sent, in the order sent: a
 * latency per message, not per byte (a message does not wait for the one before it to be
 * delivered, only never overtakes it). With no delay and nothing queued, it runs at once.
 */
export function createDelayLine(delayMs: () => number): { send(action: () => void): void; clear(): void } {
  const queue: { due: number; action: () => void }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const pump = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && (queue[0]?.due ?? 0) <= now) queue.shift()?.action();
    const next = queue[0];
    if (next) timer = setTimeout(pump, Math.max(0, next.due - now));
  };
  return {
    send(action) {
      const delay = delayMs();
      if (delay <= 0 && queue.length === 0) {
        action();
        return;
      }
      const due = Math.max(performance.now() + delay, queue.at(-1)?.due ?? 0);
      queue.push({ due, action });
      timer ??= setTimeout(pump, Math.max(0, due - performance.now()));
    },
    clear() {
      queue.length = 0;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** The frontend's Terminate message ('X', length 4): the client expects no answer to it. */
function isTerminate(bytes: Buffer): boolean {
  return bytes.length === 5 && bytes[0] === 0x58 && bytes.readInt32BE(1) === 4;
}

/**
 * Neon's two endpoints on one HTTP server, as `@neondatabase/serverless` expects them.
 *
 * `POST /sql`: Neon's SQL-over-HTTP endpoint, for `neon()` and `transaction()` (stack/neon-http.ts).
 *
 * The WebSocket-to-TCP relay, for `Pool` and `Client`: the client opens
 * `ws://host/v2?address=<pg-host>:<pg-port>` and every binary frame carries raw Postgres
 * protocol bytes in either direction.
 *
 * The driver does not close its socket after sending Terminate; it waits for the server to
 * hang up. So when Postgres closes the TCP side, the WebSocket is closed too.
 *
 * Distance (with a meter whose `rttMs` > 0): the WebSocket upgrade is answered one round trip
 * late, every frame reaches the other side half a round trip late, in order, and closing follows
 * the frames sent before it. Counting: the upgrade is one round trip to "postgres", and so is each
 * exchange: the client sending while no answer is pending (startup, each SCRAM step, each query
 * or pipelined group of messages) begins one, which ends when the server's first answer reaches
 * the client. Terminate is not counted: nothing waits for an answer to it. `/sql` is one round
 * trip per request, half of it before the request is handled and half before the answer leaves.
 */
export async function startNeonProxy(options: NeonProxyOptions): Promise<NeonProxy> {
  const allowed = new Set<number>();
  let meter = options.meter;
  const sql = createNeonHttpEndpoint({ isAllowed: (port) => allowed.has(port), meter: () => meter });
  const server = http.createServer((req, res) => {
    if (new URL(req.url ?? "/", "http://proxy").pathname === "/sql") {
      sql.handle(req, res);
      return;
    }
    res.writeHead(426, { "content-type": "text/plain" }).end("WebSocket upgrade required\n");
  });
  const wss = new WebSocketServer({ noServer: true });
  let open = 0;

  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    // The driver names the host from the connection string: only loopback Postgres servers that
    // were allowed are reachable.
    const target = /^(?:127\.0\.0\.1|localhost):(\d+)$/.exec(url.searchParams.get("address") ?? "");
    const port = Number(target?.[1]);
    if (url.pathname !== "/v2" || !allowed.has(port)) {
      socket.end("HTTP/1.1 403 Forbidden\r\nconnection: close\r\n\r\n");
      return;
    }
    // The upgrade's exchange: half a round trip for the request to arrive, half for the answer.
    const linkMeter = meter;
    const upgraded = linkMeter?.begin("postgres");
    const half = () => linkMeter?.halfTrip() ?? Promise.resolve();
    void half()
      .then(() => half())
      .then(() => {
        upgraded?.();
        wss.handleUpgrade(req, socket, head, (ws) => relay(ws, port));
      });
  });

  function relay(ws: WebSocket, port: number): void {
    open += 1;
    const tcp = net.connect(port, "127.0.0.1");
    tcp.setNoDelay(true);
    const pending: Buffer[] = [];
    let connected = false;
    const delay = () => (meter?.rttMs ?? 0) / 2;
    const toServer = createDelayLine(delay);
    const toClient = createDelayLine(delay);
    // The exchange in flight: begun by the client, ended by the server's first answer.
    let exchange: (() => void) | undefined;

    const toBuffer = (data: RawData): Buffer =>
      Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);

    ws.on("message", (data) => {
      const bytes = toBuffer(data);
      if (!exchange && !isTerminate(bytes)) exchange = meter?.begin("postgres");
      toServer.send(() => {
        if (connected) tcp.write(bytes);
        else pending.push(bytes);
      });
    });
    tcp.on("connect", () => {
      connected = true;
      for (const bytes of pending.splice(0)) tcp.write(bytes);
    });
    tcp.on("data", (bytes) => {
      toClient.send(() => {
        if (ws.readyState === ws.OPEN) ws.send(bytes, { binary: true });
        exchange?.();
        exchange = undefined;
      });
    });

    let closed = false;
    const finish = () => {
      if (closed) return;
      closed = true;
      open -= 1;
      toServer.clear();
      toClient.clear();
      exchange?.();
      exchange = undefined;
      tcp.destroy();
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close();
    };
    // A hang-up travels like the frames before it; an error ends the link at once.
    tcp.on("close", () => toClient.send(finish));
    tcp.on("error", finish);
    ws.on("close", () => toServer.send(finish));
    ws.on("error", finish);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });

  return {
    address: `127.0.0.1:${options.port}`,
    port: options.port,
    allow: (postgresPort) => void allowed.add(postgresPort),
    setMeter: (next) => {
      meter = next;
    },
    openConnections: () => open,
    close: async () => {
      await new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await sql.close();
    },
  };
}
