// Pipeline benchmark: documents per second from upload to ready, against clamd alone, with the rows
// that show what bounds it (the uploads themselves, the processing after them, a lone upload).
import { clamdScan, type DocumentBenchOptions, median, type Rows, ratio, textBytes, upload } from "./documents.ts";

/**
 * Waits until every document of `ids` is ready, polling the newest 100 documents of the bench user
 * in ONE request every `intervalMs` (a request per document would load the API, and so the
 * machine, as much as the pipeline does). Throws on a document that ended otherwise.
 */
async function allReady(options: DocumentBenchOptions, ids: string[], intervalMs: number, timeoutMs = 600_000) {
  const pending = new Set(ids);
  const deadline = Date.now() + timeoutMs;
  while (pending.size > 0) {
    if (Date.now() > deadline) throw new Error(`${pending.size} documents not processed in time`);
    const res = await fetch(`${options.apiUrl}/documents?limit=100`, {
      headers: { authorization: `Bearer ${options.token}` },
    });
    if (res.status !== 200) throw new Error(`list failed: ${res.status} ${await res.text()}`);
    for (const { id, status } of ((await res.json()) as { data: { id: string; status: string }[] }).data) {
      if (!pending.has(id)) continue;
      if (status === "ready") pending.delete(id);
      else if (status === "failed" || status === "quarantined") throw new Error(`document ${id} ended ${status}`);
    }
    if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export async function runPipelineBenchmarks(options: DocumentBenchOptions): Promise<Rows> {
  const rows: Rows = [];

  // Pipeline: documents per second from upload to ready (scan, hash, extract, index, notify),
  // against clamd scanning the same files directly.
  const count = 60;
  const files = Array.from({ length: count }, (_, i) => textBytes(16 * 1024, 100 + i));
  const address = options.stackEnv.CLAMD_ADDRESS ?? "";
  const pipeline: number[] = [];
  const uploads: number[] = [];
  const drain: number[] = [];
  const scanOnly: number[] = [];
  const lone: number[] = [];
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
    const uploaded = performance.now();
    uploads.push(count / ((uploaded - start) / 1000));
    await allReady(options, ids, 50);
    const end = performance.now();
    pipeline.push(count / ((end - start) / 1000));
    drain.push(end - uploaded);

    // One document alone: the latency a user sees (the queue's batch timeout included).
    start = performance.now();
    const id = await upload(options, files[round % count] ?? Buffer.alloc(0), `pipeline lone ${round}`);
    await allReady(options, [id], 20);
    lone.push(performance.now() - start);
  }
  rows.push(
    [`Pipeline, ${count} text documents of 16 KiB, uploaded 10 at a time (median of ${options.rounds})`, "", ""],
    address
      ? ["  clamd INSTREAM alone (Node → clamd, sequential), documents/s", median(scanOnly).toFixed(1), ""]
      : ["  clamd not running", "-", ""],
    ["  uploads alone (POST /documents, processing running alongside), documents/s", median(uploads).toFixed(1), ""],
    [
      "  upload → ready through the queue (scan, hash, extract, index, notify), documents/s",
      median(pipeline).toFixed(1),
      "",
    ],
    ["  after the last upload until all are ready, ms", median(drain).toFixed(0), ""],
    ...(address ? [["  ratio (pipeline / scan alone)", ratio(median(pipeline), median(scanOnly)), ""]] : []),
    ["  one document alone, upload → ready, ms", median(lone).toFixed(0), ""],
  );

  return rows;
}
