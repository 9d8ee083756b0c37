import http from "node:http";
import { freePort } from "./ports.ts";
import type { ReplicaServer } from "./postgres-replica.ts";
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

/**
 * What a hook answers: a bare status, or a status with headers (a redirect's `location`), a body
 * of `bodyBytes` bytes (a receiver that sends too much), or `echoChallenge` (the JSON
 * `{"challenge": …}` of the request's `data.challenge`, as a verified receiver does).
 */
type HookAnswer =
  | number
  | { status: number; headers?: Record<string, string>; bodyBytes?: number; echoChallenge?: boolean };

/** A webhook receiver for tests: records what arrives at `/hooks/{name}` and answers as told. */
function hookSink() {
  const received = new Map<string, CapturedRequest[]>();
  const answers = new Map<string, HookAnswer[]>();
  return {
    /** `POST /hooks/{name}` records the request and answers with the next queued answer, else 204. */
    receive(name: string, req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
      const list = received.get(name) ?? [];
      const headers = Object.fromEntries(Object.entries(req.headers).map(([key, value]) => [key, String(value)]));
      list.push({ method: req.method ?? "", headers, body, receivedAt: new Date().toISOString() });
      received.set(name, list);
      const answer = answers.get(name)?.shift() ?? 204;
      if (typeof answer === "number") {
        res.writeHead(answer).end();
      } else if (answer.echoChallenge) {
        const challenge = (JSON.parse(body) as { data?: { challenge?: unknown } }).data?.challenge;
        res.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify({ challenge }));
      } else {
        res.writeHead(answer.status, answer.headers).end("x".repeat(answer.bodyBytes ?? 0));
      }
    },
    /** `PUT /hooks/{name}/answers` with a JSON array of answers for the next requests. */
    setAnswers(name: string, next: HookAnswer[]): void {
      answers.set(name, next);
    },
    list(name: string): CapturedRequest[] {
      return received.get(name) ?? [];
    },
  };
}

/**
 * A DNS-over-HTTPS resolver in the JSON form (`GET /dns-query?name=…&type=1|28`, answering
 * `application/dns-json`), serving the records tests put (`PUT /dns/records` with
 * `{"<name>": {"A": [...], "AAAA": [...]}}` or `{"<name>": "SERVFAIL"}`); other names are NXDOMAIN.
 * `GET /dns/queries` lists the names asked, in order.
 */
function dnsZone() {
  const records = new Map<string, { A?: string[]; AAAA?: string[] } | "SERVFAIL">();
  const queries: string[] = [];
  return {
    put(entries: Record<string, { A?: string[]; AAAA?: string[] } | "SERVFAIL">): void {
      for (const [name, value] of Object.entries(entries)) records.set(name.toLowerCase(), value);
    },
    queries: () => queries,
    answer(url: URL): { Status: number; Answer?: { name: string; type: number; TTL: number; data: string }[] } {
      const name = (url.searchParams.get("name") ?? "").toLowerCase().replace(/\.$/, "");
      const type = Number(url.searchParams.get("type"));
      queries.push(name);
      const entry = records.get(name);
      if (entry === undefined) return { Status: 3 };
      if (entry === "SERVFAIL") return { Status: 2 };
      const data = (type === 1 ? entry.A : type === 28 ? entry.AAAA : undefined) ?? [];
      return { Status: 0, Answer: data.map((value) => ({ name: `${name}.`, type, TTL: 0, data: value })) };
    },
  };
}

/** What a canned path answers: a status with headers, and JSON or `bodyBytes` filler bytes. */
interface CannedAnswer {
  status: number;
  headers?: Record<string, string>;
  json?: unknown;
  bodyBytes?: number;
}

/**
 * A scripted HTTP peer (a misbehaving OpenID provider, say): `PUT /canned/{name}` with
 * `{"<path>": CannedAnswer}` sets what `/canned/{name}<path>` answers to any method (else 404);
 * `GET /canned/{name}` lists the requests that arrived, in order.
 */
function cannedPeers() {
  const answers = new Map<string, Record<string, CannedAnswer>>();
  const received = new Map<string, CapturedRequest[]>();
  return {
    set(name: string, paths: Record<string, CannedAnswer>): void {
      answers.set(name, paths);
      received.set(name, []);
    },
    list: (name: string) => received.get(name) ?? [],
    answer(name: string, path: string, req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([key, value]) => [key, String(value)]));
      received.set(name, [
        ...(received.get(name) ?? []),
        { method: `${req.method ?? ""} ${path}`, headers, body, receivedAt: new Date().toISOString() },
      ]);
      const answer = answers.get(name)?.[path];
      if (!answer) {
        res.writeHead(404).end();
      } else if (answer.json !== undefined) {
        res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
        res.end(JSON.stringify(answer.json));
      } else {
        res.writeHead(answer.status, answer.headers).end("x".repeat(answer.bodyBytes ?? 0));
      }
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

/** The control server's actions on a replica; none when the stack runs no replica. */
function replicaControls(replica: ReplicaServer | undefined): Record<string, () => Promise<void>> | undefined {
  if (!replica) return undefined;
  return {
    stop: () => replica.stop(),
    start: () => replica.start(),
    "pause-replay": () => replica.pauseReplay(),
    "resume-replay": () => replica.resumeReplay(),
    "catch-up": () => replica.catchUp(),
  };
}

/**
 * For tests running inside workerd:
 * - `POST /outage/{postgres|redis|s3}/{stop|start}` stops and starts the real services of a
 *   dedicated stack (never the shared one); `/outage/{postgres|redis|s3|clamd}/{pause|resume}`
 *   freezes one (SIGSTOP) and lets it go on;
 * - `POST /replica/{stop|start|pause-replay|resume-replay|catch-up}` drives the shared stack's
 *   streaming replica (stack/postgres-replica.ts), when it runs one;
 * - `/hooks/{name}` is a webhook receiver (`POST` records, `GET` lists, `PUT …/answers` sets the
 *   answers it gives: statuses, redirects, oversized bodies, challenge echoes);
 * - `/dns-query` is a DNS-over-HTTPS resolver (JSON) serving what `PUT /dns/records` put;
 * - `/canned/{name}/…` answers as `PUT /canned/{name}` scripted it (a misbehaving peer);
 * - `/stall/…` accepts any request and never answers (until the server closes): an endpoint that
 *   hangs, for the deadlines of webhook deliveries and OpenID provider calls.
 */
export async function startControlServer(stacks: {
  outage: Stack;
  replica?: ReplicaServer | undefined;
}): Promise<ControlServer> {
  const services = {
    // PgBouncer and Postgres together: the endpoint the app reaches (Stack.database).
    postgres: stacks.outage.database,
    redis: stacks.outage.redis,
    s3: stacks.outage.s3,
    clamd: stacks.outage.clamd,
    // The shared stack's streaming replica: its replay paused and resumed (lag), waited for,
    // stopped and started. Only the tests of the read routing read from it.
    replica: replicaControls(stacks.replica),
  };
  const hooks = hookSink();
  const dns = dnsZone();
  const canned = cannedPeers();
  const stalled = new Set<http.ServerResponse>();
  const server = http.createServer(async (req, res) => {
    if (req.url?.startsWith("/stall/")) {
      stalled.add(res);
      res.once("close", () => stalled.delete(res));
      return;
    }
    const requested = new URL(req.url ?? "/", "http://control");
    if (requested.pathname === "/dns-query" && req.method === "GET") {
      res.writeHead(200, { "content-type": "application/dns-json" }).end(JSON.stringify(dns.answer(requested)));
      return;
    }
    if (requested.pathname === "/dns/records" && req.method === "PUT") {
      dns.put(JSON.parse(await readBody(req)) as Parameters<typeof dns.put>[0]);
      res.writeHead(204).end();
      return;
    }
    if (requested.pathname === "/dns/queries" && req.method === "GET") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(dns.queries()));
      return;
    }
    const scripted = /^\/canned\/([\w-]+)(\/.*)?$/.exec(requested.pathname);
    if (scripted?.[1]) {
      const body = await readBody(req);
      if (!scripted[2] && req.method === "PUT") {
        canned.set(scripted[1], JSON.parse(body) as Record<string, CannedAnswer>);
        res.writeHead(204).end();
      } else if (!scripted[2] && req.method === "GET") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(canned.list(scripted[1])));
      } else {
        canned.answer(scripted[1], scripted[2] ?? "", req, body, res);
      }
      return;
    }
    const hook = /^\/hooks\/([\w-]+)(\/answers)?$/.exec(req.url ?? "");
    if (hook?.[1]) {
      const name = hook[1];
      const body = await readBody(req);
      if (hook[2] && req.method === "PUT") {
        hooks.setAnswers(name, JSON.parse(body) as HookAnswer[]);
        res.writeHead(204).end();
      } else if (!hook[2] && req.method === "POST") {
        hooks.receive(name, req, body, res);
      } else if (!hook[2] && req.method === "GET") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(hooks.list(name)));
      } else {
        res.writeHead(405).end();
      }
      return;
    }
    const match =
      /^\/(?:outage\/(postgres|redis|s3|clamd)\/(stop|start|pause|resume)|(replica)\/(stop|start|pause-replay|resume-replay|catch-up))$/.exec(
        req.url ?? "",
      );
    const service = match ? services[(match[1] ?? match[3]) as keyof typeof services] : undefined;
    const action = match?.[2] ?? match?.[4];
    const run = service && action ? (service as Partial<Record<string, () => Promise<void>>>)[action] : undefined;
    if (req.method !== "POST" || typeof run !== "function") {
      res.writeHead(404).end();
      return;
    }
    run.call(service).then(
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
