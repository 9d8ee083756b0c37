// Document benchmarks: upload throughput and memory (bench/uploads.ts), and documents per second
// through the processing pipeline (bench/pipeline.ts); this file holds what both use.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import net from "node:net";
import { S3Client } from "@aws-sdk/client-s3";
import WebSocket from "ws";

export interface DocumentBenchOptions {
  apiUrl: string;
  /** The bare worker (bench/bare), whose /bare/drain reads a body and discards it. */
  bareUrl: string;
  token: string;
  /** The stack's bindings (S3 endpoint and credentials, clamd address). */
  stackEnv: Record<string, string>;
  /** The `wrangler dev` process; workerd runs below it. */
  wranglerPid: number;
  rounds: number;
}

export const MiB = 1024 * 1024;

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** Pseudo-random printable text (incompressible enough, and valid UTF-8 for text/plain). */
export function textBytes(size: number, seed = 1): Buffer {
  const bytes = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    bytes[i] = i % 80 === 79 ? 10 : 32 + (x % 95);
  }
  return bytes;
}

// --- memory of workerd, from /proc ---

function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The parent pid is the second field after the ")" that ends the command name.
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent === pid) children.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return children;
}

/** The workerd processes below `root`. */
export function workerdPids(root: number): number[] {
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() ?? 0;
    for (const child of childrenOf(pid)) {
      queue.push(child);
      try {
        if (readFileSync(`/proc/${child}/comm`, "utf8").trim() === "workerd") found.push(child);
      } catch {
        // gone
      }
    }
  }
  return found;
}

export function rssBytes(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      total += Number(match?.[1] ?? 0) * 1024;
    } catch {
      // gone
    }
  }
  return total;
}

/** Samples RSS every 20 ms while `work` runs; returns the peak. */
export async function peakRss<T>(pids: number[], work: () => Promise<T>): Promise<{ peak: number; result: T }> {
  let peak = rssBytes(pids);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssBytes(pids));
  }, 20);
  try {
    const result = await work();
    return { peak: Math.max(peak, rssBytes(pids)), result };
  } finally {
    clearInterval(timer);
  }
}

/**
 * The DevTools address of workerd's own inspector in process `pid`, if it is a workerd that runs
 * user workers (wrangler starts it with `--inspector-addr=127.0.0.1:0` and proxies only the first
 * worker; workerd's own `/json` lists every isolate, Miniflare's internal ones included). Found as
 * the process's listening socket that answers `/json` with a `core:user:` worker; undefined for
 * wrangler's proxy process, which has none.
 */
export async function workerdInspectorUrl(pid: number): Promise<string | undefined> {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const link = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`, "utf8"));
      if (link?.[1]) inodes.add(link[1]);
    }
  } catch {
    // gone
  }
  // /proc/net/tcp: "sl local_address rem_address st … inode"; st 0A is LISTEN, the port in hex.
  const ports = readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[3] === "0A" && inodes.has(fields[9] ?? ""))
    .map((fields) => Number.parseInt((fields[1] ?? "").split(":")[1] ?? "", 16));
  for (const port of ports) {
    const url = `http://127.0.0.1:${port}`;
    const targets = await fetch(`${url}/json`, { signal: AbortSignal.timeout(2000) })
      .then((res) => (res.ok ? res.json() : undefined))
      .catch(() => undefined);
    if (Array.isArray(targets) && targets.some((target: { id?: string }) => target.id?.startsWith("core:user:")))
      return url;
  }
  return undefined;
}

/**
 * A DevTools session to every isolate of the workerd below `wranglerPid` that runs user workers
 * (`workerdInspectorUrl`), and that process's id: wrangler's own inspector proxy shows one worker
 * and does not collect garbage. Throws when there is none.
 */
export async function openWorkerdInspector(wranglerPid: number): Promise<{ inspector: Inspector; pid: number }> {
  const pids = workerdPids(wranglerPid);
  const urls = await Promise.all(pids.map((pid) => workerdInspectorUrl(pid)));
  const at = urls.findIndex((found) => found !== undefined);
  const url = urls[at];
  const pid = pids[at];
  if (!url || pid === undefined)
    throw new Error(`no workerd with an inspector found below wrangler (processes ${pids.join(", ")})`);
  return { inspector: await Inspector.open(url), pid };
}

/**
 * DevTools sessions to every isolate a DevTools endpoint lists (`/json`): workerd's own inspector
 * (`workerdInspectorUrl`) for all of them, or wrangler's inspector proxy for its first worker. Used to
 * force a full garbage collection before a memory baseline, and to read each isolate's V8 heap
 * (Runtime.getHeapUsage: `usedSize`, the JS heap in use; `backingStorageSize`, ArrayBuffers' memory
 * outside that heap).
 */
export class Inspector {
  private nextId = 1;
  private readonly sockets: WebSocket[];
  /** The sockets of user workers (`core:user:…`; wrangler's proxy names its one target otherwise). */
  private readonly userSockets: WebSocket[];

  private constructor(sockets: WebSocket[], ids: string[]) {
    this.sockets = sockets;
    const users = sockets.filter((_, i) => ids[i]?.startsWith("core:user:"));
    this.userSockets = users.length > 0 ? users : sockets;
  }

  static async open(url: string): Promise<Inspector> {
    const targets = (await (await fetch(`${url}/json`)).json()) as { id: string; webSocketDebuggerUrl: string }[];
    const sockets = await Promise.all(
      targets.map(
        (target) =>
          new Promise<WebSocket>((resolve, reject) => {
            // workerd names itself "localhost", which may resolve to ::1; it listens on 127.0.0.1.
            const socket = new WebSocket(target.webSocketDebuggerUrl.replace("//localhost:", "//127.0.0.1:"));
            socket.once("open", () => resolve(socket));
            socket.once("error", reject);
          }),
      ),
    );
    return new Inspector(
      sockets,
      targets.map((target) => target.id),
    );
  }

  /** Isolates in all, and those of user workers (whose heaps `heapUsage` sums). */
  get isolates(): { all: number; user: number } {
    return { all: this.sockets.length, user: this.userSockets.length };
  }

  /** One DevTools call; undefined when no answer came within `timeoutMs`. */
  private call(socket: WebSocket, method: string, timeoutMs: number): Promise<Record<string, unknown> | undefined> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.off("message", onMessage);
        resolve(undefined);
      }, timeoutMs);
      const onMessage = (data: WebSocket.RawData) => {
        const message = JSON.parse(data.toString()) as {
          id?: number;
          result?: Record<string, unknown>;
          error?: unknown;
        };
        if (message.id !== id) return;
        socket.off("message", onMessage);
        clearTimeout(timer);
        if (message.error) reject(new Error(`${method}: ${JSON.stringify(message.error)}`));
        else resolve(message.result ?? {});
      };
      socket.on("message", onMessage);
      socket.send(JSON.stringify({ id, method }));
    });
  }

  /**
   * A full garbage collection in every isolate (HeapProfiler.collectGarbage, twice: what the first
   * frees may release more). V8 runs it as a task of the isolate, which workerd only runs when the
   * isolate has work: `poke` gives the isolates that matter a request. Returns how many isolates
   * confirmed the last round (an isolate with nothing to run, such as an idle queue consumer,
   * collects when its next event arrives).
   */
  async collectGarbage(poke?: () => Promise<unknown>): Promise<number> {
    let confirmed = 0;
    for (let round = 0; round < 2; round++) {
      const calls = this.sockets.map((socket) => this.call(socket, "HeapProfiler.collectGarbage", 3000));
      await poke?.();
      confirmed = (await Promise.all(calls)).filter((result) => result !== undefined).length;
    }
    return confirmed;
  }

  /**
   * Bytes over the user workers' isolates (the API, the processor: Miniflare's own are left out):
   * V8's JS heap in use, and ArrayBuffer backing stores. An isolate that does not answer within
   * 1 s counts as 0, so compare peaks, not single samples.
   */
  async heapUsage(): Promise<{ used: number; backing: number }> {
    const usages = await Promise.all(this.userSockets.map((s) => this.call(s, "Runtime.getHeapUsage", 1000)));
    return {
      used: usages.reduce((sum, u) => sum + Number(u?.usedSize ?? 0), 0),
      backing: usages.reduce((sum, u) => sum + Number(u?.backingStorageSize ?? 0), 0),
    };
  }

  close(): void {
    for (const socket of this.sockets) socket.close();
  }
}

// --- the API ---

export async function upload(options: DocumentBenchOptions, body: Buffer, title: string): Promise<string> {
  const res = await fetch(`${options.apiUrl}/documents?title=${encodeURIComponent(title)}`, {
    method: "POST",
    headers: { authorization: `Bearer ${options.token}`, "content-type": "text/plain" },
    body,
  });
  if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

/**
 * A multipart/form-data body as a browser sends it: a `title` field, then the `file` part
 * (`text/plain`, named `bench.txt`) holding `file`. One buffer, built once per benchmark.
 */
export function formBody(file: Buffer, title: string): { body: Buffer; contentType: string } {
  const boundary = `----BenchBoundary${crypto.randomUUID().replaceAll("-", "")}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\n${title}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.txt"\r\n` +
      "Content-Type: text/plain\r\n\r\n",
  );
  return {
    body: Buffer.concat([head, file, Buffer.from(`\r\n--${boundary}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

/** POST /documents with a form body (see `formBody`); returns the document's id. */
export async function uploadForm(
  options: DocumentBenchOptions,
  form: { body: Buffer; contentType: string },
): Promise<string> {
  const res = await fetch(`${options.apiUrl}/documents`, {
    method: "POST",
    headers: { authorization: `Bearer ${options.token}`, "content-type": form.contentType },
    body: form.body,
  });
  if (res.status !== 201) throw new Error(`form upload failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

export async function waitUntilProcessed(
  options: DocumentBenchOptions,
  ids: string[],
  timeoutMs = 600_000,
): Promise<void> {
  const pending = new Set(ids);
  const deadline = Date.now() + timeoutMs;
  while (pending.size > 0) {
    if (Date.now() > deadline) throw new Error(`${pending.size} documents not processed in time`);
    await Promise.all(
      [...pending].map(async (id) => {
        const res = await fetch(`${options.apiUrl}/documents/${id}`, {
          headers: { authorization: `Bearer ${options.token}` },
        });
        const { status } = (await res.json()) as { status: string };
        if (status === "ready") pending.delete(id);
        else if (status === "failed" || status === "quarantined") throw new Error(`document ${id} ended ${status}`);
      }),
    );
    if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// --- baselines ---

export function s3Client(env: Record<string, string>): S3Client {
  return new S3Client({
    region: env.S3_REGION ?? "us-east-1",
    endpoint: env.S3_ENDPOINT,
    forcePathStyle: true,
    credentials: { accessKeyId: env.S3_ACCESS_KEY_ID ?? "", secretAccessKey: env.S3_SECRET_ACCESS_KEY ?? "" },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/** clamd's INSTREAM from Node: what scanning alone costs, without our pipeline around it. */
export function clamdScan(address: string, body: Buffer): Promise<string> {
  const [host = "127.0.0.1", port = "0"] = address.split(":");
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), host);
    let reply = "";
    socket.on("data", (chunk) => {
      reply += chunk.toString();
    });
    socket.on("end", () => resolve(reply.replace(/\0$/, "")));
    socket.on("error", reject);
    socket.write("zINSTREAM\0");
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    socket.write(length);
    socket.write(body);
    socket.write(Buffer.alloc(4));
  });
}

export const mbps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
export const ratio = (candidate: number, baseline: number) => `${(candidate / baseline).toPrecision(2)}x`;
const pad = (cells: string[], widths: number[]) =>
  cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ");

export function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  console.log(pad(header, widths));
  for (const row of rows) console.log(pad(row, widths));
}

/** Rows of the documents table, each `[label, value, Δ]`. */
export type Rows = string[][];
