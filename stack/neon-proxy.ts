import http from "node:http";
import net from "node:net";
import { type RawData, WebSocketServer } from "ws";
import { createNeonHttpEndpoint } from "./neon-http.ts";

export interface NeonProxyOptions {
  port: number;
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
  /** Connections currently relayed. */
  openConnections(): number;
  close(): Promise<void>;
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
 */
export async function startNeonProxy(options: NeonProxyOptions): Promise<NeonProxy> {
  const allowed = new Set<number>();
  const sql = createNeonHttpEndpoint({ isAllowed: (port) => allowed.has(port) });
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
    wss.handleUpgrade(req, socket, head, (ws) => {
      open += 1;
      const tcp = net.connect(port, "127.0.0.1");
      tcp.setNoDelay(true);
      const pending: Buffer[] = [];
      let connected = false;

      const toBuffer = (data: RawData): Buffer =>
        Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);

      ws.on("message", (data) => {
        const bytes = toBuffer(data);
        if (connected) tcp.write(bytes);
        else pending.push(bytes);
      });
      tcp.on("connect", () => {
        connected = true;
        for (const bytes of pending.splice(0)) tcp.write(bytes);
      });
      tcp.on("data", (bytes) => {
        if (ws.readyState === ws.OPEN) ws.send(bytes, { binary: true });
      });

      let closed = false;
      const finish = () => {
        if (closed) return;
        closed = true;
        open -= 1;
        tcp.destroy();
        if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close();
      };
      tcp.on("close", finish);
      tcp.on("error", finish);
      ws.on("close", finish);
      ws.on("error", finish);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });

  return {
    address: `127.0.0.1:${options.port}`,
    port: options.port,
    allow: (postgresPort) => void allowed.add(postgresPort),
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
