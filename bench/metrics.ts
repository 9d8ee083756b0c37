// The cost of metrics and of tracing: the same API with METRICS=on against METRICS=off (issue:
// ≥ 0.95×), and with every request traced (exported to the stack's OTLP receiver) against neither.
import path from "node:path";
import { startWranglerDev, waitUntilServing } from "../stack/wrangler.ts";
import { type Comparison, httpScenario, type LoadOptions, runComparisons } from "./harness.ts";

export interface MetricsBenchOptions {
  /** The API under test, metrics on and tracing off (the production flush interval: the caller sets it). */
  apiUrl: string;
  /** Where a traced API exports its spans (the stack's OTLP receiver). */
  tracesEndpoint: string;
  /** Its environment, for a second API with metrics off. */
  env: Record<string, string>;
  /** A folder for the second API's state. */
  root: string;
  ports: { off: number; traced: number; inspectors: [number, number] };
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
  const serve = (name: string, env: Record<string, string>, port: number, inspectorPort: number) =>
    startWranglerDev({
      // Both workers, as the API under test runs (the processor idles in each).
      configs: ["wrangler.toml", "workers/processor/wrangler.toml"],
      env: { ...options.env, ...env },
      envFile: path.join(options.root, `api-${name}.env`),
      port,
      inspectorPort,
      persistTo: path.join(options.root, `wrangler-api-${name}`),
      output: "ignore",
    });
  // BENCH_AA=1: metrics on in the baseline too, to see how far two instances differ with nothing changed.
  const off = await serve(
    "metrics-off",
    { METRICS: process.env.BENCH_AA ? "on" : "off" },
    options.ports.off,
    options.ports.inspectors[0],
  );
  // Every request traced (the worst case; production keeps 1 in 10 by default) and exported.
  const traced = await serve(
    "traced",
    { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: options.tracesEndpoint, OTEL_TRACES_SAMPLER_ARG: "1" },
    options.ports.traced,
    options.ports.inspectors[1],
  );
  try {
    await Promise.all([
      waitUntilServing(`${off.url}/health`, off.process),
      waitUntilServing(`${traced.url}/health`, traced.process),
    ]);
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const headers = {
      off: bearer(await options.signIn(off.url)),
      on: bearer(options.token),
      traced: bearer(await options.signIn(traced.url)),
    };
    const urls = { off: off.url, on: options.apiUrl, traced: traced.url };
    const label = { off: "METRICS=off", on: "METRICS=on", traced: "METRICS=on, every request traced" };
    const compare = (title: string, route: string, signedIn: boolean, candidate: "on" | "traced"): Comparison => {
      const scenario = (which: "off" | "on" | "traced") =>
        httpScenario(
          `${route} with ${label[which]}`,
          { url: `${urls[which]}${route}`, headers: signedIn ? headers[which] : {} },
          options.load,
        );
      return { title, baseline: scenario("off"), candidate: scenario(candidate) };
    };
    await runComparisons(
      [
        compare("Metrics: GET /health, on against off (target ≥ 0.95×)", "/health", false, "on"),
        compare("Metrics: authenticated GET /users/me, on against off (target ≥ 0.95×)", "/users/me", true, "on"),
        compare("Metrics and tracing: GET /health, every request traced, against neither", "/health", false, "traced"),
        compare(
          "Metrics and tracing: authenticated GET /users/me, every request traced, against neither",
          "/users/me",
          true,
          "traced",
        ),
      ],
      options.load.rounds,
    );
  } finally {
    await Promise.all([off.stop(), traced.stop()]);
  }
}
