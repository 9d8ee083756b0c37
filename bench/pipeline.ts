// Pipeline benchmark: documents per second from upload to ready, against clamd alone, with the rows
// that show what bounds it (the uploads themselves, the processing after them, a lone upload).
import pg from "pg";
import { corpusDocument } from "../scripts/corpus/generate.ts";
import { clamdScan, type DocumentBenchOptions, median, type Rows, ratio, upload } from "./documents.ts";

/**
 * About `size` bytes of English prose from the project's corpus (scripts/corpus/generate.ts: Zipf
 * word frequencies, topic words), the `index`-th such text, cut at a space. What the search index
 * does per document depends on its words: random printable bytes (`textBytes`) give about 600 new
 * "words" per 16 KiB, each a new suggestion-vocabulary row, where prose gives about 160 mostly known.
 */
function proseBytes(size: number, index: number): Buffer {
  let text = "";
  for (let i = 0; Buffer.byteLength(text) < size; i++) text += `${corpusDocument(7, index * 16 + i, 10).text}\n\n`;
  const bytes = Buffer.from(text);
  const cut = bytes.lastIndexOf(32, size);
  return bytes.subarray(0, cut > 0 ? cut : size);
}

/**
 * Waits until every document of `ids` is ready, reading their statuses from Postgres every
 * `intervalMs` in one query (as the system: row-level security shows a session nothing else).
 * Polling the API instead would load workerd, whose one thread the pipeline shares, with 20
 * requests/s per owner. Throws on a document that ended otherwise, or past `timeoutMs`.
 */
async function allReady(databaseUrl: string, ids: string[], intervalMs: number, timeoutMs = 300_000) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("select set_config('app.role', 'system', false)");
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query<{ id: string; status: string }>(
        "select id, status from documents where id = any($1::uuid[])",
        [ids],
      );
      // Every document must be seen: rows hidden (row-level security, another database) would
      // otherwise look like documents no longer pending.
      if (rows.length !== ids.length) throw new Error(`${ids.length - rows.length} documents not found in Postgres`);
      const ended = rows.find((row) => row.status === "failed" || row.status === "quarantined");
      if (ended) throw new Error(`document ${ended.id} ended ${ended.status}`);
      const open = rows.filter((row) => row.status !== "ready").length;
      if (open === 0) return;
      if (Date.now() > deadline) throw new Error(`${open} documents not processed in time`);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  } finally {
    await client.end();
  }
}

/** Postgres without the transaction pooler: the session's `app.role` must hold across statements. */
function databaseUrl(options: DocumentBenchOptions): string {
  const url = options.stackEnv.DATABASE_URL_UNPOOLED;
  if (!url) throw new Error("the stack gives no DATABASE_URL_UNPOOLED");
  return url;
}

/** A fresh user and an access token for it, through the API (registration, password grant). */
async function newOwner(apiUrl: string): Promise<string> {
  const username = `pipeline-${crypto.randomUUID().slice(0, 12)}`;
  const password = "benchmark password 1";
  const registered = await fetch(`${apiUrl}/users`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: `${username}@example.com`, username, password }),
  });
  if (registered.status !== 201)
    throw new Error(`registration failed: ${registered.status} ${await registered.text()}`);
  const login = await fetch(`${apiUrl}/auth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "password", username, password }).toString(),
  });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${await login.text()}`);
  return ((await login.json()) as { access_token: string }).access_token;
}

/**
 * Uploads `files` with 10 in flight at any time, the i-th as `owners[i % owners.length]`, and
 * waits until all are ready. Returns the uploads' rate, the pipeline's rate (documents/s) and the
 * time after the last upload until the last one was ready (ms).
 */
async function uploadAndProcess(options: DocumentBenchOptions, owners: string[], files: Buffer[], label: string) {
  const start = performance.now();
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      for (let i = next++; i < files.length; i = next++) {
        const token = owners[i % owners.length] ?? options.token;
        ids.push(await upload({ ...options, token }, files[i] ?? Buffer.alloc(0), `${label}-${i}`));
      }
    }),
  );
  const uploaded = performance.now();
  await allReady(databaseUrl(options), ids, 20);
  const end = performance.now();
  return {
    uploads: files.length / ((uploaded - start) / 1000),
    pipeline: files.length / ((end - start) / 1000),
    drainMs: end - uploaded,
  };
}

export async function runPipelineBenchmarks(options: DocumentBenchOptions): Promise<Rows> {
  const rows: Rows = [];

  // Pipeline: documents per second from upload to ready (scan, hash, extract, index, notify),
  // against clamd scanning the same files directly.
  // Enough documents for a steady state: the first batch's wait and the last one's processing are
  // a small part of the run (the row after the last upload shows that tail alone).
  const count = Number(process.env.BENCH_PIPELINE_DOCUMENTS ?? 300);
  const files = Array.from({ length: count }, (_, i) => proseBytes(16 * 1024, i));
  const address = options.stackEnv.CLAMD_ADDRESS ?? "";
  const pipeline: number[] = [];
  const uploads: number[] = [];
  const drain: number[] = [];
  const scanOnly: number[] = [];
  const lone: number[] = [];
  const uploadsOwners: number[] = [];
  const pipelineOwners: number[] = [];
  // The same documents by ten owners: one owner's uploads take its quota lock one at a time.
  const owners = await Promise.all(Array.from({ length: 10 }, () => newOwner(options.apiUrl)));
  for (let round = 0; round < options.rounds; round++) {
    let start = performance.now();
    if (address) {
      for (const file of files) {
        const reply = await clamdScan(address, file);
        if (reply !== "stream: OK") throw new Error(`clamd: ${reply}`);
      }
      scanOnly.push(count / ((performance.now() - start) / 1000));
    }

    const one = await uploadAndProcess(options, [options.token], files, `pipeline ${round}`);
    uploads.push(one.uploads);
    pipeline.push(one.pipeline);
    drain.push(one.drainMs);
    const many = await uploadAndProcess(options, owners, files, `pipeline owners ${round}`);
    uploadsOwners.push(many.uploads);
    pipelineOwners.push(many.pipeline);

    // One document alone: the latency a user sees (the queue's batch timeout included).
    start = performance.now();
    const id = await upload(options, files[round % count] ?? Buffer.alloc(0), `pipeline lone ${round}`);
    await allReady(databaseUrl(options), [id], 20);
    lone.push(performance.now() - start);
  }
  rows.push(
    [
      `Pipeline, ${count} text documents of 16 KiB (English prose), 10 uploads in flight (median of ${options.rounds})`,
      "",
      "",
    ],
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
    ["  the same by 10 owners: uploads alone, documents/s", median(uploadsOwners).toFixed(1), ""],
    ["  the same by 10 owners: upload → ready, documents/s", median(pipelineOwners).toFixed(1), ""],
    ...(address ? [["  ratio (pipeline / scan alone)", ratio(median(pipeline), median(scanOnly)), ""]] : []),
    ["  one document alone, upload → ready, ms", median(lone).toFixed(0), ""],
  );

  return rows;
}
