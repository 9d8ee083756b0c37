// Upload benchmarks: where the time of POST /documents goes (each piece of the upload path measured
// alone in workerd, against Node's direct S3 requests), and workerd's memory while files stream in.
import { createHash } from "node:crypto";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import {
  type DocumentBenchOptions,
  formBody,
  type Inspector,
  MiB,
  mbps,
  median,
  openWorkerdInspector,
  type Rows,
  ratio,
  rssBytes,
  s3Client,
  textBytes,
  upload,
  uploadForm,
  waitUntilProcessed,
  workerdPids,
} from "./documents.ts";

/** One way of moving the same bytes; `run` returns what the label adds (reads, chunk sizes). */
interface Scenario {
  label: string;
  run(round: number): Promise<string | undefined>;
  /** Bytes one run moves, when not the group's 32 MiB (whole parts). */
  bytes?: number;
  /**
   * Runs after the timing: the API's uploads wait here until their document is processed, so
   * that its scan (in the same workerd process) does not run during the next scenario.
   */
  settle?(): Promise<void>;
}

/** What the bare worker's body routes answer (bench/bare/index.ts). */
interface Drained {
  bytes: number;
  reads: number;
  sha256?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (bytes: number) => (bytes / MiB).toFixed(0);
const signed = (bytes: number) => `${bytes < 0 ? "−" : "+"}${mib(Math.abs(bytes))}`;

export async function runUploadBenchmarks(options: DocumentBenchOptions): Promise<Rows> {
  return [...(await throughput(options)), ...(await memory(options))];
}

/**
 * 1. Throughput: the same 32 MiB through every scenario, alternating scenario by scenario within
 *    each round (after one unmeasured round), MiB/s medians over the rounds, each against one direct
 *    S3 PUT from Node. The workerd rows run in the bare worker (bench/bare) on the project's own
 *    code (partsOf, FormDataReader, s3ClientFor), so they follow it as it changes.
 */
async function throughput(options: DocumentBenchOptions): Promise<Rows> {
  const size = 32 * MiB;
  const payload = textBytes(size);
  const sha256 = createHash("sha256").update(payload).digest("hex");
  const form = formBody(payload, "throughput");
  const s3 = s3Client(options.stackEnv);
  const Bucket = options.stackEnv.S3_BUCKET;
  // The API's part size, as the bare worker reads it from src/pkg/storage/storage.ts.
  const { partBytes: PART_BYTES } = (await (await fetch(`${options.bareUrl}/bare/parts`)).json()) as {
    partBytes: number;
  };

  const bare = async (path: string, body: Buffer, contentType = "text/plain"): Promise<Drained> => {
    const res = await fetch(`${options.bareUrl}${path}`, {
      method: "POST",
      headers: { "content-type": contentType },
      body,
    });
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    const drained = (await res.json()) as Drained;
    if (drained.bytes !== size) throw new Error(`${path}: ${drained.bytes} bytes arrived of ${size}`);
    if (drained.sha256 !== undefined && drained.sha256 !== sha256) throw new Error(`${path}: wrong SHA-256`);
    return drained;
  };
  const reads = (drained: Drained) =>
    `${drained.reads} reads, ${(drained.bytes / drained.reads / 1024).toFixed(0)} KiB each`;
  const bareUpload = (label: string, query: string): Scenario => ({
    label,
    run: async () => {
      await bare(`/bare/upload?${query}`, payload);
      return undefined;
    },
  });

  // Sends of whole parts from memory: as many as 32 MiB needs (the last one whole).
  const partCount = Math.ceil(size / PART_BYTES);
  const sendParts = (label: string, mode: string): Scenario => ({
    label,
    bytes: partCount * PART_BYTES,
    run: async () => {
      const res = await fetch(`${options.bareUrl}/bare/send?mode=${mode}&count=${partCount}`, { method: "POST" });
      if (res.status !== 200) throw new Error(`/bare/send ${mode}: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
      return undefined;
    },
  });

  // Labels of the rows that the ratios at the end compare.
  const NODE_MULTIPART = `direct multipart upload, ${PART_BYTES / MiB} MiB parts (Node → s3rver)`;
  const WORKERD_MULTIPART = "createS3Storage().upload of 32 MiB from memory (multipart; no request body arriving)";
  const STORE_ALONE = "storeFile alone (src/documents/upload.ts: sniff, check, hash, store)";
  const API_RAW = "POST /documents, raw text/plain body";
  /** The API's documents of the current run, awaited by `settle`. */
  const uploaded: string[] = [];
  const groups: { title: string; scenarios: Scenario[] }[] = [
    {
      title: "Node baselines",
      scenarios: [
        {
          label: "direct S3 PUT (Node → s3rver)",
          run: async (round) => {
            await s3.send(
              new PutObjectCommand({ Bucket, Key: `bench/direct-${round}`, Body: payload, ContentLength: size }),
            );
            return undefined;
          },
        },
        {
          // What s3rver itself costs for multipart: it stores each part, then concatenates them at Complete.
          label: NODE_MULTIPART,
          run: async (round) => {
            const Key = `bench/direct-multipart-${round}`;
            const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
            const Parts: { ETag: string; PartNumber: number }[] = [];
            for (let offset = 0, PartNumber = 1; offset < size; offset += PART_BYTES, PartNumber++) {
              const Body = payload.subarray(offset, Math.min(offset + PART_BYTES, size));
              const { ETag } = await s3.send(
                new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body, ContentLength: Body.length }),
              );
              Parts.push({ ETag: ETag ?? "", PartNumber });
            }
            await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } }));
            return `${Parts.length} parts`;
          },
        },
      ],
    },
    {
      title: `sending alone: ${partCount} parts of ${PART_BYTES / MiB} MiB from memory, one after the other`,
      scenarios: [
        {
          label: `Node: UploadPart × ${partCount} (the SDK, one multipart upload)`,
          bytes: partCount * PART_BYTES,
          run: async (round) => {
            const Key = `bench/node-parts-${round}`;
            const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
            const Body = payload.subarray(0, PART_BYTES);
            for (let PartNumber = 1; PartNumber <= partCount; PartNumber++)
              await s3.send(
                new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body, ContentLength: Body.length }),
              );
            await s3.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }));
            return undefined;
          },
        },
        sendParts(
          `workerd: UploadPart × ${partCount} (s3ClientFor; the SDK hashes each payload as it sends)`,
          "sdk-part",
        ),
        sendParts(
          "workerd: the same, each payload hash taken while the part before is sent (storage.ts now)",
          "sdk-part-prehashed",
        ),
        sendParts(
          "workerd: UploadPart signed by the same signer, sent with a plain fetch (no SDK middleware)",
          "fetch-signed-part",
        ),
        sendParts(
          "workerd: PutObject signed by the same signer, sent with a plain fetch (no SDK middleware)",
          "fetch-signed",
        ),
        sendParts("workerd: the same with UNSIGNED-PAYLOAD (no payload hash; not used by the API)", "fetch-unsigned"),
        sendParts("workerd: SHA-256 of each part alone (WebCrypto, as the signer hashes), nothing sent", "digest"),
        {
          label: WORKERD_MULTIPART,
          run: async () => {
            const res = await fetch(`${options.bareUrl}/bare/send-upload?bytes=${size}`, { method: "POST" });
            if (res.status !== 200) throw new Error(`/bare/send-upload: ${res.status} ${await res.text()}`);
            await res.arrayBuffer();
            return undefined;
          },
        },
      ],
    },
    {
      title: "workerd, the bare worker: each piece of the upload path, added one at a time",
      scenarios: [
        {
          label: "body drained, default reader",
          run: async () => reads(await bare("/bare/drain", payload)),
        },
        {
          label: "body drained, BYOB reader (1 MiB buffer)",
          run: async () => reads(await bare("/bare/drain?reader=byob", payload)),
        },
        {
          label: "form body through FormDataReader (src/documents/form-data.ts)",
          run: async () => reads(await bare("/bare/form", form.body, form.contentType)),
        },
        {
          label: "  its file part cut into parts (partSource, partsOf)",
          run: async () => reads(await bare("/bare/form?parts=1", form.body, form.contentType)),
        },
        bareUpload(`raw body cut into ${PART_BYTES / MiB} MiB parts (byteSource, partsOf)`, "steps="),
        bareUpload("  + the UTF-8 check text gets (NUL scan, fatal decoder)", "steps=utf8"),
        bareUpload("  + the file's SHA-256 (crypto.DigestStream)", "steps=utf8,sha256"),
        bareUpload("  + SigV4 signing of each part, unsent (the S3Client's signer)", "steps=utf8,sha256,sign"),
        bareUpload("  + sent instead: createS3Storage().upload (the SDK signs)", "steps=utf8,sha256,send"),
        {
          label: STORE_ALONE,
          run: async () => {
            await bare("/bare/store", payload);
            return undefined;
          },
        },
        bareUpload("raw body into parts from default-reader chunks (readerSource)", "reader=default&steps="),
      ],
    },
    {
      title: "the API (Node → workerd → s3rver: stream, SHA-256, UTF-8 check, multipart, rows)",
      scenarios: [
        {
          label: API_RAW,
          run: async (round) => {
            uploaded.push(await upload(options, payload, `throughput ${round}`));
            return undefined;
          },
          settle: () => waitUntilProcessed(options, uploaded.splice(0)),
        },
        {
          label: "POST /documents, multipart/form-data body",
          run: async () => {
            uploaded.push(await uploadForm(options, form));
            return undefined;
          },
          settle: () => waitUntilProcessed(options, uploaded.splice(0)),
        },
      ],
    },
  ];

  const scenarios = groups.flatMap((group) => group.scenarios);
  const speeds = new Map<Scenario, number[]>(scenarios.map((scenario) => [scenario, []]));
  const details = new Map<Scenario, string | undefined>();
  for (let round = -1; round < options.rounds; round++) {
    for (const scenario of scenarios) {
      const start = performance.now();
      const detail = await scenario.run(round);
      const elapsed = performance.now() - start;
      if (round >= 0) speeds.get(scenario)?.push(mbps(scenario.bytes ?? size, elapsed));
      details.set(scenario, detail);
      await scenario.settle?.();
    }
  }
  const direct = median(speeds.get(scenarios[0] as Scenario) ?? []);
  const rows: Rows = [[`Upload throughput, 32 MiB (MiB/s, median of ${options.rounds}; Δ: / direct S3 PUT)`, "", ""]];
  for (const group of groups) {
    rows.push([`  ${group.title}`, "", ""]);
    for (const scenario of group.scenarios) {
      const speed = median(speeds.get(scenario) ?? []);
      const detail = details.get(scenario);
      rows.push([`    ${scenario.label}${detail ? ` (${detail})` : ""}`, speed.toFixed(1), ratio(speed, direct)]);
    }
  }
  const speed = (label: string) => median(speeds.get(scenarios.find((s) => s.label === label) as Scenario) ?? []);
  const api = speed(API_RAW);
  rows.push(
    ["  ratios", "", ""],
    [
      "    POST /documents raw / direct multipart upload (s3rver's own multipart cost taken out)",
      ratio(api, speed(NODE_MULTIPART)),
      "",
    ],
    [
      "    workerd's multipart upload from memory / Node's (1: workerd sends as fast as Node)",
      ratio(speed(WORKERD_MULTIPART), speed(NODE_MULTIPART)),
      "",
    ],
    [
      "    POST /documents raw / workerd's multipart upload from memory (the body arriving meanwhile)",
      ratio(api, speed(WORKERD_MULTIPART)),
      "",
    ],
    [
      "    POST /documents raw / storeFile alone (what the API adds around the file)",
      ratio(api, speed(STORE_ALONE)),
      "",
    ],
  );
  return rows;
}

/** Peak RSS per process (sampled every 20 ms) and peak JS heap / ArrayBuffers (every 100 ms) while `work` runs. */
async function peakMemory<T>(
  pids: number[],
  inspector: Inspector | undefined,
  work: () => Promise<T>,
): Promise<{ rss: number[]; heap: number; backing: number; result: T }> {
  const rss = pids.map((pid) => rssBytes([pid]));
  const sample = () => {
    pids.forEach((pid, i) => {
      rss[i] = Math.max(rss[i] ?? 0, rssBytes([pid]));
    });
  };
  let heap = 0;
  let backing = 0;
  let done = false;
  const timer = setInterval(sample, 20);
  const heapSampler = (async () => {
    while (inspector && !done) {
      const usage = await inspector.heapUsage();
      heap = Math.max(heap, usage.used);
      backing = Math.max(backing, usage.backing);
      await sleep(100);
    }
  })();
  try {
    const result = await work();
    sample();
    done = true;
    // The heap's samples are in once the one under way has answered.
    await heapSampler;
    return { rss, heap, backing, result };
  } finally {
    done = true;
    clearInterval(timer);
    await heapSampler;
  }
}

/**
 * 2. Memory: peak growth of the workerd process that runs the API and the processor (all their
 *    isolates and Durable Objects, Miniflare's own workers that every request crosses, and the
 *    runtime's buffers: RSS from /proc) while uploads stream in, over a baseline taken after a full
 *    garbage collection in every isolate (DevTools HeapProfiler.collectGarbage through workerd's own
 *    inspector), so that what earlier requests left for the collector is neither counted as the
 *    upload's nor freed during it as if the upload shrank memory. RSS also keeps what the allocator
 *    holds after freeing, so peaks are compared, not ends. wrangler's dev proxy, a second workerd
 *    process that every request crosses before the runtime (not there in production), is printed
 *    apart. Each scenario waits until the processor has finished its documents (its peak printed
 *    apart) before the next baseline; of four uploads, the first may start processing while the last
 *    still streams (the queue delivers after at most 2 s). A file held whole would need its own size.
 */
async function memory(options: DocumentBenchOptions): Promise<Rows> {
  const pids = workerdPids(options.wranglerPid);
  const { inspector, pid: runtime } = await openWorkerdInspector(options.wranglerPid);
  const runtimeAt = pids.indexOf(runtime);
  const health = () => fetch(`${options.apiUrl}/health`).then((res) => res.arrayBuffer());
  try {
    // One unmeasured upload first, so that the code paths have run and their heap exists.
    await waitUntilProcessed(options, [await upload(options, textBytes(100_000_000, 5), "warm-up")]);
    const file100 = textBytes(100_000_000, 7);
    const scenarios = [
      // The largest peak last: the allocator keeps some of what a peak took, which a later
      // scenario would reuse without growing.
      { label: "one 100 MB upload", files: [file100] },
      { label: "one 300 MB upload", files: [textBytes(300_000_000, 9)] },
      { label: "4 concurrent 100 MB uploads", files: [file100, file100, file100, file100] },
    ];
    const rows: Rows = [
      [
        `workerd memory, MiB (peak growth over a collected baseline; ${inspector.isolates.all} isolates, ${inspector.isolates.user} of user workers)`,
        "",
        "",
      ],
    ];
    const growth: number[] = [];
    const v8Growth: number[] = [];
    for (const scenario of scenarios) {
      const collected = await inspector.collectGarbage(health);
      await sleep(500);
      const before = pids.map((pid) => rssBytes([pid]));
      const heapBefore = await inspector.heapUsage();
      const during = await peakMemory(pids, inspector, () =>
        Promise.all(scenario.files.map((file, i) => upload(options, file, `${scenario.label} ${i}`))),
      );
      const processing = await peakMemory(pids, undefined, () => waitUntilProcessed(options, during.result));
      // wrangler dev restarts workerd when a source file changes: a new process is a new baseline.
      if (workerdPids(options.wranglerPid).join() !== pids.join())
        throw new Error("workerd restarted during the memory benchmark (a file changed under wrangler dev)");
      const grew = (peak: number[], i: number) => (peak[i] ?? 0) - (before[i] ?? 0);
      const bytes = scenario.files.reduce((sum, file) => sum + file.length, 0);
      const rss = grew(during.rss, runtimeAt);
      // Floored at 1 MiB, the resolution of these figures: a growth of 0 would make the ratio meaningless.
      growth.push(Math.max(rss / scenario.files.length, MiB));
      v8Growth.push(Math.max(during.heap - heapBefore.used + during.backing - heapBefore.backing, MiB));
      rows.push([
        `  ${scenario.label}: runtime RSS (idle ${mib(before[runtimeAt] ?? 0)}; ${collected} isolates collected)`,
        signed(rss),
        `${ratio(Math.max(rss, 0), bytes)} of the bytes`,
      ]);
      if (scenario.files.length > 1)
        rows.push([
          `    per upload (÷ ${scenario.files.length}; target ≤ 24)`,
          signed(rss / scenario.files.length),
          "",
        ]);
      rows.push([
        `    user workers' JS heap / ArrayBuffers at their peak (idle ${mib(heapBefore.used)} / ${mib(heapBefore.backing)})`,
        `${signed(during.heap - heapBefore.used)} / ${signed(during.backing - heapBefore.backing)}`,
        "",
      ]);
      pids.forEach((pid, i) => {
        if (i !== runtimeAt)
          rows.push([`    wrangler's dev proxy (workerd ${pid}, not in production)`, signed(grew(during.rss, i)), ""]);
      });
      rows.push(["    runtime RSS while the processor scans and hashes", signed(grew(processing.rss, runtimeAt)), ""]);
    }
    rows.push(
      [
        "  growth at 300 MB / at 100 MB (1 flat, 3 proportional): runtime RSS",
        ratio(growth[1] ?? 1, growth[0] ?? 1),
        "",
      ],
      ["    the same for the user workers' JS heap + ArrayBuffers", ratio(v8Growth[1] ?? 1, v8Growth[0] ?? 1), ""],
    );
    return rows;
  } finally {
    inspector.close();
  }
}
