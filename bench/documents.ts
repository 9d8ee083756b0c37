// Document benchmarks: upload throughput against a direct S3 PUT, workerd's memory during a 100 MB
// upload, and documents per second through the processing pipeline against clamd alone.
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";

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

const MiB = 1024 * 1024;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** Pseudo-random printable text (incompressible enough, and valid UTF-8 for text/plain). */
function textBytes(size: number, seed = 1): Buffer {
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
function workerdPids(root: number): number[] {
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

function rssBytes(pids: number[]): number {
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
async function peakRss<T>(pids: number[], work: () => Promise<T>): Promise<{ peak: number; result: T }> {
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

// --- the API ---

async function upload(options: DocumentBenchOptions, body: Buffer, title: string): Promise<string> {
  const res = await fetch(`${options.apiUrl}/documents?title=${encodeURIComponent(title)}`, {
    method: "POST",
    headers: { authorization: `Bearer ${options.token}`, "content-type": "text/plain" },
    body,
  });
  if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

async function waitUntilProcessed(options: DocumentBenchOptions, ids: string[], timeoutMs = 600_000): Promise<void> {
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

function s3Client(env: Record<string, string>): S3Client {
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
function clamdScan(address: string, body: Buffer): Promise<string> {
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

const mbps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
const ratio = (candidate: number, baseline: number) => `${(candidate / baseline).toPrecision(2)}x`;
const pad = (cells: string[], widths: number[]) =>
  cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ");

function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  console.log(pad(header, widths));
  for (const row of rows) console.log(pad(row, widths));
}

export async function runDocumentBenchmarks(options: DocumentBenchOptions): Promise<void> {
  const rows: string[][] = [];

  // 1. Upload throughput: the same 32 MiB through the API (stream, SHA-256, 8 MiB multipart parts)
  //    and as one direct PUT to the same S3 server.
  const payload = textBytes(32 * MiB);
  const s3 = s3Client(options.stackEnv);
  const direct: number[] = [];
  const drained: number[] = [];
  const viaApi: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    let start = performance.now();
    const drain = await fetch(`${options.bareUrl}/bare/drain`, { method: "POST", body: payload });
    if (((await drain.json()) as { bytes: number }).bytes !== payload.length)
      throw new Error("the bare worker lost bytes");
    drained.push(mbps(payload.length, performance.now() - start));
    start = performance.now();
    await s3.send(
      new PutObjectCommand({
        Bucket: options.stackEnv.S3_BUCKET,
        Key: `bench/direct-${round}`,
        Body: payload,
        ContentLength: payload.length,
      }),
    );
    direct.push(mbps(payload.length, performance.now() - start));
    start = performance.now();
    await upload(options, payload, `throughput ${round}`);
    viaApi.push(mbps(payload.length, performance.now() - start));
  }
  rows.push(
    ["Upload throughput, 32 MiB (MiB/s, median)", "", ""],
    ["  direct S3 PUT (Node → s3rver)", median(direct).toFixed(1), ""],
    ["  body into a bare worker, discarded (Node → workerd)", median(drained).toFixed(1), ""],
    ["  POST /documents (Node → workerd → s3rver, multipart)", median(viaApi).toFixed(1), ""],
    ["  ratio (API / direct S3 PUT)", ratio(median(viaApi), median(direct)), ""],
    ["  ratio (API / bare worker)", ratio(median(viaApi), median(drained)), ""],
  );

  // 2. Memory: workerd's resident set while a file streams through the API, and while the
  //    processor scans it (clamd INSTREAM) and validates its SHA-256. RSS follows the garbage
  //    collector as much as the code, so one unmeasured 100 MB upload grows the heap first; then
  //    100 MB and 300 MB files are measured. Held whole, 300 MB would need 300 MB more.
  const pids = workerdPids(options.wranglerPid);
  if (pids.length === 0) throw new Error("no workerd process found below wrangler");
  await waitUntilProcessed(options, [await upload(options, textBytes(100_000_000, 5), "warm-up")]);
  rows.push(["workerd memory (RSS growth over the idle process, MiB)", "", ""]);
  const growth: number[] = [];
  for (const size of [100_000_000, 300_000_000]) {
    const file = textBytes(size, 7);
    const before = rssBytes(pids);
    const during = await peakRss(pids, () => upload(options, file, `${size / 1e6} MB`));
    const processing = await peakRss(pids, () => waitUntilProcessed(options, [during.result]));
    const mb = size / 1e6;
    growth.push(Math.max(during.peak - before, 1));
    rows.push(
      [
        `  peak while ${mb} MB streams in (idle: ${(before / MiB).toFixed(0)} MiB)`,
        `+${((during.peak - before) / MiB).toFixed(0)}`,
        "",
      ],
      ["  peak while the processor scans and hashes it", `+${((processing.peak - before) / MiB).toFixed(0)}`, ""],
      [`  ratio (upload growth / ${mb} MB file)`, ratio(Math.max(during.peak - before, 0), size), ""],
    );
  }
  rows.push([
    "  ratio (growth at 300 MB / growth at 100 MB: 1 flat, 3 proportional)",
    ratio(growth[1] ?? 1, growth[0] ?? 1),
    "",
  ]);

  // 3. Pipeline: documents per second from upload to ready (scan, hash, extract, index, notify),
  //    against clamd scanning the same files directly.
  const count = 60;
  const files = Array.from({ length: count }, (_, i) => textBytes(16 * 1024, 100 + i));
  const address = options.stackEnv.CLAMD_ADDRESS ?? "";
  const pipeline: number[] = [];
  const scanOnly: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    let start = performance.now();
    if (address) {
      for (const file of files) {
        const reply = await clamdScan(address, file);
        if (reply !== "stream: OK") throw new Error(`clamd: ${reply}`);
      }
      scanOnly.push(count / ((performance.now() - start) / 1000));
    }
    start = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < count; i += 10) {
      ids.push(
        ...(await Promise.all(
          files.slice(i, i + 10).map((file, j) => upload(options, file, `pipeline ${round}-${i + j}`)),
        )),
      );
    }
    await waitUntilProcessed(options, ids);
    pipeline.push(count / ((performance.now() - start) / 1000));
  }
  rows.push(
    [`Pipeline, ${count} text documents of 16 KiB (documents/s, median)`, "", ""],
    address
      ? ["  clamd INSTREAM alone (Node → clamd, sequential)", median(scanOnly).toFixed(1), ""]
      : ["  clamd not running", "-", ""],
    ["  upload → ready through the queue (scan, hash, extract, index, notify)", median(pipeline).toFixed(1), ""],
    ...(address ? [["  ratio (pipeline / scan alone)", ratio(median(pipeline), median(scanOnly)), ""]] : []),
  );

  table(["documents", "value", "Δ"], rows);
}
