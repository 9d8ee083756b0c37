// Pipeline benchmark: documents per second from upload to ready, against clamd alone, with the rows
// that show what bounds it (the uploads themselves, the processing after them, a lone upload).
import { clamdScan, type DocumentBenchOptions, median, type Rows, ratio, textBytes, upload } from "./documents.ts";

/**
 * Waits until every document of `ids` is ready, polling the newest 100 documents of the bench user
 * in ONE request every `intervalMs` (a request per document would load the API, and so the
 * machine, as much as the pipeline does). Throws on a document that ended otherwise.
 */
async function allReady(options: DocumentBenchOptions, ids: string[], intervalMs: number, timeoutMs = 120_000) {
  const pending = new Set(ids);
  const deadline = Date.now() + timeoutMs;
  while (pending.size > 0) {
    if (Date.now() > deadline)
      throw new Error(`${pending.size} documents not processed in time: ${[...pending].join(", ")}`);
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
 * Uploads `files` 10 at a time, the i-th as `owners[i % owners.length]`, and waits until all are
 * ready. Returns the uploads' rate, the pipeline's rate (documents/s) and the time after the last
 * upload until the last one was ready (ms).
 */
async function uploadAndProcess(options: DocumentBenchOptions, owners: string[], files: Buffer[], label: string) {
  const start = performance.now();
  const ids: { id: string; token: string }[] = [];
  for (let i = 0; i < files.length; i += 10) {
    ids.push(
      ...(await Promise.all(
        files.slice(i, i + 10).map(async (file, j) => {
          const token = owners[(i + j) % owners.length] ?? options.token;
          return { id: await upload({ ...options, token }, file, `${label}-${i + j}`), token };
        }),
      )),
    );
  }
  const uploaded = performance.now();
  await Promise.all(
    owners.map((token) =>
      allReady(
        { ...options, token },
        ids.filter((entry) => entry.token === token).map((entry) => entry.id),
        50,
      ),
    ),
  );
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
  const count = 60;
  const files = Array.from({ length: count }, (_, i) => textBytes(16 * 1024, 100 + i));
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
    ["  the same by 10 owners: uploads alone, documents/s", median(uploadsOwners).toFixed(1), ""],
    ["  the same by 10 owners: upload → ready, documents/s", median(pipelineOwners).toFixed(1), ""],
    ...(address ? [["  ratio (pipeline / scan alone)", ratio(median(pipeline), median(scanOnly)), ""]] : []),
    ["  one document alone, upload → ready, ms", median(lone).toFixed(0), ""],
  );

  return rows;
}
