// The cost of metrics: the same API with METRICS=on against METRICS=off (issue: ≥ 0.95×).
import path from "node:path";
import { startWranglerDev, waitUntilServing } from "../stack/wrangler.ts";
import { type Comparison, httpScenario, type LoadOptions, runComparisons } from "./harness.ts";

export interface MetricsBenchOptions {
  /** The API under test, metrics on (the production flush interval: the caller sets it). */
  apiUrl: string;
  /** Its environment, for a second API with metrics off. */
  env: Record<string, string>;
  /** A folder for the second API's state. */
  root: string;
  port: number;
  inspectorPort: number;
  /** A token of a user signed in on the API with metrics on. */
  token: string;
  /** Registers a user on the API at a URL and returns an access token (each API keeps its own sessions). */
  signIn: (apiUrl: string) => Promise<string>;
  load: LoadOptions;
}

/**
 * Serves a second API worker with `METRICS=off` against the same stack, then compares the same
 * requests on both, alternating rounds: the liveness probe (the middleware alone) and an
 * authenticated, rate-limited read (a Durable Object call and a Postgres batch, each timed).
 */
export async function runMetricsBenchmarks(options: MetricsBenchOptions): Promise<void> {
  const off = await startWranglerDev({
    // Both workers, as the API under test runs (the processor idles in both).
    configs: ["wrangler.toml", "workers/processor/wrangler.toml"],
    // BENCH_AA=1: metrics on in both, to see how far two instances differ with nothing changed.
    env: { ...options.env, METRICS: process.env.BENCH_AA ? "on" : "off" },
    envFile: path.join(options.root, "api-metrics-off.env"),
    port: options.port,
    inspectorPort: options.inspectorPort,
    persistTo: path.join(options.root, "wrangler-api-metrics-off"),
    output: "ignore",
  });
  try {
    await waitUntilServing(`${off.url}/health`, off.process);
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const headersOff = bearer(await options.signIn(off.url));
    const both = (title: string, route: string, signedIn: boolean): Comparison => ({
      title,
      baseline: httpScenario(
        `${route} with METRICS=off`,
        { url: `${off.url}${route}`, headers: signedIn ? headersOff : {} },
        options.load,
      ),
      candidate: httpScenario(
        `${route} with METRICS=on`,
        { url: `${options.apiUrl}${route}`, headers: signedIn ? bearer(options.token) : {} },
        options.load,
      ),
    });
    await runComparisons(
      [
        both("Metrics: GET /health, on against off (target ≥ 0.95×)", "/health", false),
        both("Metrics: authenticated GET /users/me, on against off (target ≥ 0.95×)", "/users/me", true),
      ],
      options.load.rounds,
    );
  } finally {
    await off.stop();
  }
}
