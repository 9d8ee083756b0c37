// Pipeline benchmark: documents per second from upload to ready, against clamd alone.
import {
  clamdScan,
  type DocumentBenchOptions,
  median,
  type Rows,
  ratio,
  textBytes,
  upload,
  waitUntilProcessed,
} from "./documents.ts";

export async function runPipelineBenchmarks(options: DocumentBenchOptions): Promise<Rows> {
  const rows: Rows = [];

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

  return rows;
}
