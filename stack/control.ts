import http from "node:http";
import { freePort } from "./ports.ts";
import type { Stack } from "./stack.ts";

export interface ControlServer {
  readonly url: string;
  close(): Promise<void>;
}

interface CapturedRequest {
  method: string;
  headers: Record<string, string>;
  body: string;
  receivedAt: string;
}

/** A webhook receiver for tests: records what arrives at `/hooks/{name}` and answers as told. */
function hookSink() {
  const received = new Map<string, CapturedRequest[]>();
  const answers = new Map<string, number[]>();
  return {
    /** `POST /hooks/{name}` records the request; the answer is the next queued status, else 204. */
    receive(name: string, req: http.IncomingMessage, body: string): number {
      const list = received.get(name) ?? [];
      const headers = Object.fromEntries(Object.entries(req.headers).map(([key, value]) => [key, String(value)]));
      list.push({ method: req.method ?? "", headers, body, receivedAt: new Date().toISOString() });
      received.set(name, list);
      return answers.get(name)?.shift() ?? 204;
    },
    /** `PUT /hooks/{name}/answers` with a JSON array of statuses for the next requests. */
    setAnswers(name: string, statuses: number[]): void {
      answers.set(name, statuses);
    },
    list(name: string): CapturedRequest[] {
      return received.get(name) ?? [];
    },
  };
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/**
 * For tests running inside workerd:
 * - `POST /outage/{postgres|redis|s3}/{stop|start}` stops and starts the real services of a
 *   dedicated stack (never the shared one); `/outage/{postgres|redis|s3|clamd}/{pause|resume}`
 *   freezes one (SIGSTOP) and lets it go on;
 * - `/hooks/{name}` is a webhook receiver (`POST` records, `GET` lists, `PUT …/answers` sets the
 *   statuses it answers with);
 * - `/stall/…` accepts any request and never answers (until the server closes): an endpoint that
 *   hangs, for the deadlines of webhook deliveries and OpenID provider calls.
 */
export async function startControlServer(stacks: { outage: Stack }): Promise<ControlServer> {
  const services = {
    postgres: stacks.outage.postgres,
    redis: stacks.outage.redis,
    s3: stacks.outage.s3,
    clamd: stacks.outage.clamd,
  };
  const hooks = hookSink();
  const stalled = new Set<http.ServerResponse>();
  const server = http.createServer(async (req, res) => {
    if (req.url?.startsWith("/stall/")) {
      stalled.add(res);
      res.once("close", () => stalled.delete(res));
      return;
    }
    const hook = /^\/hooks\/([\w-]+)(\/answers)?$/.exec(req.url ?? "");
    if (hook?.[1]) {
      const name = hook[1];
      const body = await readBody(req);
      if (hook[2] && req.method === "PUT") {
        hooks.setAnswers(name, JSON.parse(body) as number[]);
        res.writeHead(204).end();
      } else if (!hook[2] && req.method === "POST") {
        res.writeHead(hooks.receive(name, req, body)).end();
      } else if (!hook[2] && req.method === "GET") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(hooks.list(name)));
      } else {
        res.writeHead(405).end();
      }
      return;
    }
    const match = /^\/outage\/(postgres|redis|s3|clamd)\/(stop|start|pause|resume)$/.exec(req.url ?? "");
    const service = match ? services[match[1] as keyof typeof services] : undefined;
    const action = match?.[2] as "stop" | "start" | "pause" | "resume" | undefined;
    if (req.method !== "POST" || !service || !action || !(action in service)) {
      res.writeHead(404).end();
      return;
    }
    (service as Partial<Record<typeof action, () => Promise<void>>>)[action]?.().then(
      () => res.writeHead(204).end(),
      (error: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(String(error)),
    );
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        for (const res of stalled) res.destroy();
        server.close(() => resolve());
      }),
  };
}
