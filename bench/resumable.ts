// Resumable upload benchmarks (POST /uploads, PUT …/parts/{n}, POST …/complete): throughput of
// 32 MiB sent as parts one after another and four at a time, against one direct S3 PUT from Node,
// and workerd's memory while four 100 MB files (and one 300 MB file) arrive part by part.
import { createHash } from "node:crypto";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import {
  type DocumentBenchOptions,
  MiB,
  mbps,
  median,
  openWorkerdInspector,
  type Rows,
  ratio,
  rssBytes,
  s3Client,
  textBytes,
  waitUntilProcessed,
  workerdPids,
} from "./documents.ts";

interface Started {
  id: string;
  partBytes: number;
  partCount: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startUpload(options: DocumentBenchOptions, file: Buffer, title: string): Promise<Started> {
  const res = await fetch(`${options.apiUrl}/uploads`, {
    method: "POST",
    headers: { authorization: `Bearer ${options.token}`, "content-type": "application/json" },
    body: JSON.stringify({
      contentType: "text/plain",
      size: file.length,
      sha256: createHash("sha256").update(file).digest("hex"),
      filename: `${title}.txt`,
      title,
    }),
  });
  if (res.status !== 201) throw new Error(`POST /uploads: ${res.status} ${await res.text()}`);
  return (await res.json()) as Started;
}

async function sendPart(options: DocumentBenchOptions, upload: Started, file: Buffer, n: number): Promise<void> {
  const body = file.subarray((n - 1) * upload.partBytes, Math.min(file.length, n * upload.partBytes));
  const res = await fetch(`${options.apiUrl}/uploads/${upload.id}/parts/${n}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${options.token}`, "content-type": "application/octet-stream" },
    body,
  });
  if (res.status !== 200) throw new Error(`PUT part ${n}: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

/** The whole resumable upload: create, the parts `concurrency` at a time, complete. Resolves to the document id. */
async function resumable(options: DocumentBenchOptions, file: Buffer, title: string, concurrency: number) {
  const upload = await startUpload(options, file, title);
  let next = 1;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next <= upload.partCount) {
        const n = next++;
        await sendPart(options, upload, file, n);
      }
    }),
  );
  const done = await fetch(`${options.apiUrl}/uploads/${upload.id}/complete`, {
    method: "POST",
    headers: { authorization: `Bearer ${options.token}` },
  });
  if (done.status !== 201) throw new Error(`complete: ${done.status} ${await done.text()}`);
  return ((await done.json()) as { documentId: string }).documentId;
}

export async function runResumableBenchmarks(options: DocumentBenchOptions): Promise<Rows> {
  return [...(await throughput(options)), ...(await memory(options))];
}

/** 32 MiB, scenario by scenario within each round (one unmeasured round first), MiB/s medians. */
async function throughput(options: DocumentBenchOptions): Promise<Rows> {
  const size = 32 * MiB;
  const payload = textBytes(size, 11);
  const s3 = s3Client(options.stackEnv);
  const scenarios = [
    {
      label: "direct S3 PUT from Node (baseline)",
      run: () =>
        s3.send(
          new PutObjectCommand({
            Bucket: options.stackEnv.S3_BUCKET,
            Key: `bench/resumable-${crypto.randomUUID()}`,
            Body: payload,
            ContentLength: size,
          }),
        ),
    },
    { label: "resumable, parts one after another", run: () => resumable(options, payload, "resumable-seq", 1) },
    { label: "resumable, 4 parts at a time", run: () => resumable(options, payload, "resumable-par", 4) },
  ];
  const times = scenarios.map(() => [] as number[]);
  for (let round = 0; round <= options.rounds; round++) {
    for (const [i, scenario] of scenarios.entries()) {
      const started = performance.now();
      const result = await scenario.run();
      if (round > 0) times[i]?.push(performance.now() - started);
      // The processor runs in the same workerd process (one thread) and takes ~3-4 s for a 32 MiB
      // document: left running, it stalled the next upload's parts for seconds (a part ~2.4 s
      // instead of ~0.1 s), so the medians showed the pipeline, not the upload. Waited for, unmeasured.
      if (typeof result === "string") await waitUntilProcessed(options, [result]);
    }
  }
  const baseline = mbps(size, median(times[0] ?? []));
  return [
    ["resumable upload of 32 MiB (5 MiB parts), MiB/s", "", ""],
    ...scenarios.map((scenario, i): string[] => {
      const rate = mbps(size, median(times[i] ?? []));
      return [`  ${scenario.label}`, rate.toFixed(0), i === 0 ? "" : ratio(rate, baseline)];
    }),
  ];
}

/**
 * workerd's RSS growth (peak over a baseline taken after a forced garbage collection) while files
 * arrive as parts, each upload sending one part at a time, as a client would.
 */
async function memory(options: DocumentBenchOptions): Promise<Rows> {
  const pids = workerdPids(options.wranglerPid);
  const { inspector } = await openWorkerdInspector(options.wranglerPid);
  // V8 collects when the isolate next runs: a request lets the API's isolates do it.
  const health = () => fetch(`${options.apiUrl}/health`).then((res) => res.arrayBuffer());
  try {
    const file100 = textBytes(100_000_000, 13);
    const scenarios = [
      { label: "4 concurrent 100 MB resumable uploads", files: [file100, file100, file100, file100] },
      { label: "one 300 MB resumable upload", files: [textBytes(300_000_000, 17)] },
    ];
    const rows: Rows = [["workerd memory while parts arrive, MiB (peak over a collected baseline)", "", ""]];
    for (const scenario of scenarios) {
      await inspector.collectGarbage(health);
      await sleep(500);
      const before = rssBytes(pids);
      let peak = before;
      const timer = setInterval(() => {
        peak = Math.max(peak, rssBytes(pids));
      }, 20);
      let ids: string[];
      try {
        ids = await Promise.all(scenario.files.map((file, i) => resumable(options, file, `resumable-mem-${i}`, 1)));
      } finally {
        clearInterval(timer);
      }
      rows.push([`  ${scenario.label}`, `+${((peak - before) / MiB).toFixed(0)}`, ""]);
      // Processing would weigh on the next baseline: waited for, up to five minutes.
      await waitUntilProcessed(options, ids, 300_000).catch((error: unknown) => {
        rows.push([`  (its documents: ${error instanceof Error ? error.message : String(error)})`, "", ""]);
      });
    }
    return rows;
  } finally {
    inspector.close();
  }
}
