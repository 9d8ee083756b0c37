// `npm run bench`: starts the local stack and the workers, drives load, prints side-by-side ratios.
// Numbers come from one machine and one run; compare ratios, not absolute values, across machines.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { launchStack } from "../stack/launch.ts";
import { freePort } from "../stack/ports.ts";
import { startWranglerDev, waitUntilServing } from "../stack/wrangler.ts";
import { type Comparison, httpScenario, type LoadOptions, runComparisons } from "./harness.ts";

const options: LoadOptions = {
  durationSeconds: Number(process.env.BENCH_SECONDS ?? 5),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 10),
  rounds: Number(process.env.BENCH_ROUNDS ?? 3),
};

const root = await mkdtemp(path.join(os.tmpdir(), "techcorp-bench-"));
const stack = await launchStack({ dataDir: path.join(root, "stack"), redis: "optional", outage: false });
const [apiPort, barePort] = [await freePort(), await freePort()];
const api = await startWranglerDev({
  configs: ["wrangler.toml", "workers/processor/wrangler.toml"],
  env: { ...stack.env, LOG_LEVEL: "error" },
  envFile: path.join(root, "api.env"),
  port: apiPort,
  inspectorPort: await freePort(),
  persistTo: path.join(root, "wrangler-api"),
  output: "ignore",
});
const bare = await startWranglerDev({
  configs: ["bench/bare/wrangler.toml"],
  env: {},
  envFile: path.join(root, "bare.env"),
  port: barePort,
  inspectorPort: await freePort(),
  persistTo: path.join(root, "wrangler-bare"),
  output: "ignore",
});

try {
  await Promise.all([
    waitUntilServing(`${api.url}/health`, api.process),
    waitUntilServing(`${bare.url}/bare`, bare.process),
  ]);
  console.log(
    `load: ${options.connections} connections, ${options.durationSeconds} s per scenario after a 2 s warm-up\n`,
  );

  const comparisons: Comparison[] = [
    {
      title: "Middleware stack: GET /health against a bare Hono route",
      baseline: httpScenario("bare route (no middleware)", { url: `${bare.url}/bare` }, options),
      candidate: httpScenario(
        "GET /health (request id, headers, log, config, services)",
        { url: `${api.url}/health` },
        options,
      ),
    },
  ];
  await runComparisons(comparisons, options.rounds);
} finally {
  await Promise.all([api.stop(), bare.stop()]);
  await stack.stop();
  await rm(root, { recursive: true, force: true });
}
