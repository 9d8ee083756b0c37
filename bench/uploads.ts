// Upload benchmarks: POST /documents against a direct S3 PUT, and workerd's memory while files stream in.
import { PutObjectCommand } from "@aws-sdk/client-s3";
import {
  type DocumentBenchOptions,
  MiB,
  mbps,
  median,
  peakRss,
  type Rows,
  ratio,
  rssBytes,
  s3Client,
  textBytes,
  upload,
  waitUntilProcessed,
  workerdPids,
} from "./documents.ts";

export async function runUploadBenchmarks(options: DocumentBenchOptions): Promise<Rows> {
  const rows: Rows = [];

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

  return rows;
}
