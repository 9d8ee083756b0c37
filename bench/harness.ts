import autocannon from "autocannon";

export interface Metrics {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses outside 2xx; a scenario with errors is not a measurement. */
  errors: number;
}

export interface Scenario {
  name: string;
  run(): Promise<Metrics>;
}

/** Two scenarios measured the same way; the ratio is what we add over the baseline. */
export interface Comparison {
  title: string;
  baseline: Scenario;
  candidate: Scenario;
}

export interface LoadOptions {
  /** Seconds of measured load per round (after a short warm-up). */
  durationSeconds: number;
  connections: number;
  /** Baseline and candidate alternate this many times; medians are reported. */
  rounds: number;
}

export interface HttpRequestSpec {
  url: string;
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  headers?: Record<string, string>;
  body?: string;
  /**
   * Bodies taken in turn across all connections instead of `body` (one per account, say, so that
   * no account has more than one request in flight and per-account throttles stay out of it).
   */
  bodies?: string[];
}

async function load(spec: HttpRequestSpec, options: LoadOptions, duration: number): Promise<autocannon.Result> {
  const bodies = spec.bodies;
  let next = 0;
  return autocannon({
    url: spec.url,
    method: spec.method ?? "GET",
    headers: spec.headers,
    body: spec.body,
    connections: options.connections,
    duration,
    ...(bodies && bodies.length > 0
      ? {
          requests: [
            {
              setupRequest: (request: autocannon.Request) => {
                request.body = bodies[next++ % bodies.length];
                return request;
              },
            },
          ],
        }
      : {}),
  });
}

/** An HTTP scenario driven by autocannon: a 2-second warm-up, then the measured run. */
export function httpScenario(name: string, spec: HttpRequestSpec, options: LoadOptions): Scenario {
  return {
    name,
    async run() {
      await load(spec, options, 2);
      const result = await load(spec, options, options.durationSeconds);
      return {
        requestsPerSecond: result.requests.average,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        errors: result.non2xx + result.errors + result.timeouts,
      };
    },
  };
}

const fixed = (value: number, digits = 1) => value.toFixed(digits);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

async function measure(scenario: Scenario): Promise<Metrics> {
  const metrics = await scenario.run();
  if (metrics.errors > 0)
    throw new Error(`${scenario.name}: ${metrics.errors} failed requests; not a valid measurement`);
  return metrics;
}

const summarise = (all: Metrics[]): Metrics => ({
  requestsPerSecond: median(all.map((m) => m.requestsPerSecond)),
  p50Ms: median(all.map((m) => m.p50Ms)),
  p99Ms: median(all.map((m) => m.p99Ms)),
  errors: 0,
});

/**
 * Runs each comparison, alternating baseline and candidate for `rounds` rounds so that drift on
 * the machine hits both alike, and prints the medians and their ratios side by side.
 */
export async function runComparisons(comparisons: Comparison[], rounds: number): Promise<void> {
  const rows: string[][] = [];
  for (const comparison of comparisons) {
    const runs: { baseline: Metrics[]; candidate: Metrics[] } = { baseline: [], candidate: [] };
    for (let round = 0; round < rounds; round++) {
      runs.baseline.push(await measure(comparison.baseline));
      runs.candidate.push(await measure(comparison.candidate));
    }
    const baseline = summarise(runs.baseline);
    const candidate = summarise(runs.candidate);
    rows.push(
      [comparison.title, "", "", ""],
      [
        `  ${comparison.baseline.name}`,
        fixed(baseline.requestsPerSecond, 0),
        fixed(baseline.p50Ms),
        fixed(baseline.p99Ms),
      ],
      [
        `  ${comparison.candidate.name}`,
        fixed(candidate.requestsPerSecond, 0),
        fixed(candidate.p50Ms),
        fixed(candidate.p99Ms),
      ],
      [
        "  ratio (candidate / baseline)",
        `${fixed(candidate.requestsPerSecond / baseline.requestsPerSecond, 2)}x`,
        `${fixed(candidate.p50Ms / Math.max(baseline.p50Ms, 0.001), 2)}x`,
        `${fixed(candidate.p99Ms / Math.max(baseline.p99Ms, 0.001), 2)}x`,
      ],
    );
  }
  const header = ["scenario", "req/s", "p50 ms", "p99 ms"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ");
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}
