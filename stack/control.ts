import http from "node:http";
import { freePort } from "./ports.ts";
import type { Stack } from "./stack.ts";

export interface ControlServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Lets tests running inside workerd stop and start the real services of a dedicated stack
 * (never the shared one): `POST /outage/{postgres|redis|s3}/{stop|start}`.
 */
export async function startControlServer(stacks: { outage: Stack }): Promise<ControlServer> {
  const services = {
    postgres: stacks.outage.postgres,
    redis: stacks.outage.redis,
    s3: stacks.outage.s3,
  };
  const server = http.createServer((req, res) => {
    const match = /^\/outage\/(postgres|redis|s3)\/(stop|start)$/.exec(req.url ?? "");
    const service = match ? services[match[1] as keyof typeof services] : undefined;
    if (req.method !== "POST" || !match || !service) {
      res.writeHead(404).end();
      return;
    }
    const action = match[2] === "stop" ? service.stop() : service.start();
    action.then(
      () => res.writeHead(204).end(),
      (error: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(String(error)),
    );
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
