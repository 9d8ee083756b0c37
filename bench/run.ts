// `npm run bench`: starts the local stack and the workers, drives load, prints side-by-side ratios.
// Numbers come from one machine and one run; compare ratios, not absolute values, across machines.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { unstable_readConfig } from "wrangler";
import { rttFromEnv } from "../stack/distance.ts";
import { launchStack } from "../stack/launch.ts";
import { freePort } from "../stack/ports.ts";
import { startWranglerDev, waitUntilServing } from "../stack/wrangler.ts";
import { runDistanceBenchmarks } from "./distance.ts";
import { table } from "./documents.ts";
import { type Comparison, httpScenario, type LoadOptions, runComparisons } from "./harness.ts";
import { runMetricsBenchmarks } from "./metrics.ts";
import { runPipelineBenchmarks } from "./pipeline.ts";
import { runResumableBenchmarks } from "./resumable.ts";
import { runSearchBenchmarks } from "./search.ts";
import { runUploadBenchmarks } from "./uploads.ts";

/** `BENCH_ONLY=gateway`, `metrics`, `documents`, `resumable`, `search` or `distance` runs one group
 *  (`pipeline`: only the documents group's pipeline rows; `uploads`: only its upload rows). */
const only = process.env.BENCH_ONLY;

const options: LoadOptions = {
  durationSeconds: Number(process.env.BENCH_SECONDS ?? 5),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 10),
  rounds: Number(process.env.BENCH_ROUNDS ?? 3),
};

// Rate limiting stays on (every request still goes to its Durable Object) but with limits no
// benchmark reaches, so what is measured is the cost of the check, not refusals.
const UNREACHABLE_LIMITS = JSON.stringify({
  api: [{ name: "burst", limit: 100_000_000, windowSeconds: 10 }],
  auth: [{ name: "burst", limit: 100_000_000, windowSeconds: 10 }],
  token: [{ name: "burst", limit: 100_000_000, windowSeconds: 10 }],
});

/** The API's own PBKDF2 iteration count, for the bare worker's hashing baseline. */
const PBKDF2_ITERATIONS = String(unstable_readConfig({ config: "wrangler.toml" }).vars.PBKDF2_ITERATIONS ?? "");

// wrangler dev's local trace collector (Miniflare's observability collector, on by default) runs in
// workerd's thread beside the workers and writes every span to SQLite: measured at about 40% of the
// API worker's own JavaScript time during the pipeline rows. Production has no such collector in
// the isolate, so benchmarks run without it (`npm run dev` keeps it for its local explorer).
process.env.X_LOCAL_OBSERVABILITY ??= "false";
// Nor does it log every request through Node (wrangler's request lines, sent over Miniflare's
// loopback and formatted there: about 5% of a core during the pipeline rows).
process.env.WRANGLER_LOG ??= "warn";

const root = await mkdtemp(path.join(os.tmpdir(), "techcorp-bench-"));
const stack = await launchStack({
  dataDir: path.join(root, "stack"),
  redis: "optional",
  outage: false,
  // The gateway, documents and search groups run at this distance (default 0); the distance group
  // sets its own on the meter.
  rttMs: rttFromEnv(process.env.STACK_RTT_MS),
});
const [apiPort, barePort, apiInspectorPort] = [await freePort(), await freePort(), await freePort()];
// Uploads up to 1 GiB, so the memory benchmark can show growth is independent of file size; the
// metrics flushed as in production (the test stack's 50 ms would flush after nearly every request).
const apiEnv = {
  ...stack.env,
  LOG_LEVEL: "error",
  RATE_LIMIT_POLICIES: UNREACHABLE_LIMITS,
  MAX_UPLOAD_BYTES: String(1024 ** 3),
  METRICS_FLUSH_INTERVAL_MS: "10000",
  // Untraced: the stack traces every request locally; the metrics group measures tracing's cost.
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "",
};
const api = await startWranglerDev({
  configs: ["wrangler.toml", "workers/processor/wrangler.toml"],
  env: apiEnv,
  envFile: path.join(root, "api.env"),
  port: apiPort,
  // The document group collects garbage and reads heaps through it (bench/documents.ts, Inspector).
  inspectorPort: apiInspectorPort,
  persistTo: path.join(root, "wrangler-api"),
  output: "ignore",
});
const bare = await startWranglerDev({
  configs: ["bench/bare/wrangler.toml"],
  // The upload path's pieces (/bare/upload) send to the stack's S3 as the API does.
  env: {
    PBKDF2_ITERATIONS,
    ...Object.fromEntries(
      ["S3_ENDPOINT", "S3_REGION", "S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"].map((key) => [
        key,
        stack.env[key] ?? "",
      ]),
    ),
  },
  envFile: path.join(root, "bare.env"),
  port: barePort,
  inspectorPort: await freePort(),
  persistTo: path.join(root, "wrangler-bare"),
  output: "ignore",
});

/** A registered user and a fresh access token, through the API itself (or the one at `apiUrl`). */
async function benchUser(apiUrl = api.url): Promise<{ form: string; token: string }> {
  const username = `bench-${crypto.randomUUID().slice(0, 12)}`;
  const password = "benchmark password 1";
  const registered = await fetch(`${apiUrl}/users`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: `${username}@example.com`, username, password }),
  });
  if (registered.status !== 201)
    throw new Error(`registration failed: ${registered.status} ${await registered.text()}`);
  const form = new URLSearchParams({ grant_type: "password", username, password }).toString();
  const login = await fetch(`${apiUrl}/auth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: form,
  });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${await login.text()}`);
  return { form, token: ((await login.json()) as { access_token: string }).access_token };
}

try {
  await Promise.all([
    waitUntilServing(`${api.url}/health`, api.process),
    waitUntilServing(`${bare.url}/bare`, bare.process),
  ]);
  const user = await benchUser();
  if (only === undefined || only === "gateway") await gatewayBenchmarks(user);
  if (only === undefined || only === "metrics") {
    console.log("\n");
    await runMetricsBenchmarks({
      apiUrl: api.url,
      env: apiEnv,
      root,
      tracesEndpoint: stack.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? "",
      ports: { off: await freePort(), traced: await freePort(), inspectors: [await freePort(), await freePort()] },
      token: user.token,
      signIn: async (url) => (await benchUser(url)).token,
      load: options,
    });
  }
  /** The document groups' options, with a fresh token (earlier groups may outlive a token's 15 minutes). */
  const documentOptions = async () => {
    const pid = api.process.pid;
    if (pid === undefined) throw new Error("wrangler has no pid");
    return {
      apiUrl: api.url,
      bareUrl: bare.url,
      token: (await benchUser()).token,
      stackEnv: stack.env,
      wranglerPid: pid,
      rounds: options.rounds,
    };
  };
  if (only === undefined || only === "documents" || only === "pipeline" || only === "uploads") {
    console.log("\n");
    const documents = await documentOptions();
    const rows = [
      ...(only === "pipeline" ? [] : await runUploadBenchmarks(documents)),
      ...(only === "uploads" ? [] : await runPipelineBenchmarks(documents)),
    ];
    table(["documents", "value", "Δ"], rows);
  }
  if (only === undefined || only === "resumable") {
    console.log("\n");
    table(["resumable uploads", "value", "Δ"], await runResumableBenchmarks(await documentOptions()));
  }
  if (only === undefined || only === "search") {
    console.log("\n");
    await runSearchBenchmarks({
      apiUrl: api.url,
      stackEnv: stack.env,
      // `BENCH_SEARCH_SIZES=10000` for a quicker run.
      sizes: (process.env.BENCH_SEARCH_SIZES ?? "10000,100000").split(",").map(Number),
      requests: Number(process.env.BENCH_SEARCH_REQUESTS ?? 200),
    });
  }
  if (only === undefined || only === "distance") {
    console.log("\n");
    await runDistanceBenchmarks({
      apiUrl: api.url,
      meterUrl: stack.meterUrl,
      // `BENCH_DISTANCE_RTTS=0,50,150` for other distances.
      rttsMs: (process.env.BENCH_DISTANCE_RTTS ?? "0,50").split(",").map(Number),
      requests: Number(process.env.BENCH_DISTANCE_REQUESTS ?? 20),
    });
  }
} finally {
  await Promise.all([api.stop(), bare.stop()]);
  await stack.stop();
  await rm(root, { recursive: true, force: true });
}

async function gatewayBenchmarks(user: { form: string; token: string }): Promise<void> {
  console.log(
    `load: ${options.connections} connections; ${options.rounds} alternating rounds of ${options.durationSeconds} s per scenario (each after a 2 s warm-up); medians\n`,
  );

  const bareRoute = httpScenario("bare route (no middleware)", { url: `${bare.url}/bare` }, options);
  const comparisons: Comparison[] = [
    {
      title: "Middleware stack: GET /health against a bare Hono route",
      baseline: bareRoute,
      candidate: httpScenario(
        "GET /health (request id, headers, log, config, services)",
        { url: `${api.url}/health` },
        options,
      ),
    },
    {
      title: "Gateway: authenticated, rate-limited GET /users/me against the bare route",
      baseline: bareRoute,
      candidate: httpScenario(
        "GET /users/me (JWT, session check + rate limit in one DO call, one Postgres batch under RLS)",
        { url: `${api.url}/users/me`, headers: { authorization: `Bearer ${user.token}` } },
        options,
      ),
    },
    {
      title: `Token issuance: password grant against PBKDF2-SHA256 (${PBKDF2_ITERATIONS} iterations) alone in workerd (target ≥ 0.8×)`,
      baseline: httpScenario(
        "POST /bare/pbkdf2 (one verification, as the password grant makes)",
        { url: `${bare.url}/bare/pbkdf2`, method: "POST" },
        options,
      ),
      candidate: httpScenario(
        "POST /auth/token (password grant)",
        {
          url: `${api.url}/auth/token`,
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          // One account per connection: the login throttle counts an account's attempts in flight
          // (5 free), so ten at once for one account would be refused, which is not what is measured.
          bodies: [
            user.form,
            ...(await Promise.all(Array.from({ length: options.connections - 1 }, () => benchUser()))).map(
              (u) => u.form,
            ),
          ],
        },
        options,
      ),
    },
  ];
  await runComparisons(comparisons, options.rounds);
}
