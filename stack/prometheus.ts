import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { findBinary } from "./binaries.ts";
import { terminate } from "./child.ts";

export const PROMETHEUS_INSTALL_HINT =
  "prometheus is not installed: `sudo apt-get install prometheus` (Debian/Ubuntu) or `brew install prometheus` (macOS), or set PROMETHEUS_BIN";

/** The scrape job of the API's `/metrics`; alert rules and queries select it by this name. */
export const API_SCRAPE_JOB = "techcorp-api";

/**
 * The repository's alert and recording rules (README, "Alerts, as code"). A glob: Prometheus loads
 * every file it matches when it starts, and one that matches nothing loads none, without an error.
 */
export const RULE_FILES = path.resolve(import.meta.dirname, "../monitoring/prometheus/rules/*.yml");

export interface PrometheusOptions {
  port: number;
  /** Its configuration, its time-series database (`tsdb/`) and its log go here. */
  dataDir: string;
  /** `host:port` of the API whose `/metrics` it scrapes. */
  target: string;
  /** The API's METRICS_TOKEN, sent as `Authorization: Bearer`. */
  token: string;
  /** Scrape (and rule evaluation) interval in seconds. */
  scrapeIntervalSeconds: number;
  /** How long samples are kept, in Prometheus's duration format (`2d`). */
  retention: string;
  /** Rule file globs; {@link RULE_FILES} by default. */
  ruleFiles?: string[];
}

export interface Prometheus {
  /** Its web UI and HTTP API (`/api/v1/query`, `/api/v1/targets`). */
  readonly url: string;
  /** The API it scrapes (`host:port`). */
  readonly target: string;
  readonly scrapeIntervalSeconds: number;
  stop(): Promise<void>;
}

/** The prometheus binary: PROMETHEUS_BIN if set, else on PATH or where packages put it; undefined when there is none. */
export function findPrometheus(): string | undefined {
  return findBinary("prometheus", {
    override: "PROMETHEUS_BIN",
    extraDirs: ["/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"],
  });
}

/**
 * The configuration: one job, the API's `/metrics` with its bearer token. Strings are written as
 * JSON strings, which YAML reads as double-quoted scalars, so no token or path needs escaping by hand.
 */
export function prometheusConfig(options: PrometheusOptions): string {
  const quote = (value: string) => JSON.stringify(value);
  const interval = `${options.scrapeIntervalSeconds}s`;
  return [
    "global:",
    `  scrape_interval: ${interval}`,
    // Prometheus refuses a timeout longer than the interval (its default timeout is 10 s).
    `  scrape_timeout: ${interval}`,
    `  evaluation_interval: ${interval}`,
    "rule_files:",
    ...(options.ruleFiles ?? [RULE_FILES]).map((glob) => `  - ${quote(glob)}`),
    "scrape_configs:",
    `  - job_name: ${quote(API_SCRAPE_JOB)}`,
    `    metrics_path: "/metrics"`,
    "    authorization:",
    `      type: "Bearer"`,
    `      credentials: ${quote(options.token)}`,
    "    static_configs:",
    `      - targets: [${quote(options.target)}]`,
    "",
  ].join("\n");
}

/**
 * A real Prometheus on loopback that scrapes the API's `/metrics` and loads the repository's rules.
 * The target is fixed when it starts: `npm run dev` knows its port before the stack starts, and a
 * test starts its own Prometheus once it has chosen the port it serves the API on.
 */
export async function startPrometheus(binary: string, options: PrometheusOptions): Promise<Prometheus> {
  await mkdir(options.dataDir, { recursive: true });
  const config = path.join(options.dataDir, "prometheus.yml");
  // It holds the token.
  await writeFile(config, prometheusConfig(options), { mode: 0o600 });
  const logFile = path.join(options.dataDir, "prometheus.log");
  const log = createWriteStream(logFile, { flags: "a" });
  const address = `127.0.0.1:${options.port}`;
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${config}`,
      `--web.listen-address=${address}`,
      `--storage.tsdb.path=${path.join(options.dataDir, "tsdb")}`,
      `--storage.tsdb.retention.time=${options.retention}`,
    ],
    // Relative paths in its defaults (console templates) resolve here, not in the caller's folder.
    { cwd: options.dataDir, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`prometheus exited (code ${code}) while starting; see ${logFile}`))),
  );
  // Only matters while starting; afterwards a dead Prometheus shows as a failing query.
  exited.catch(() => {});
  const url = `http://${address}`;
  try {
    // Ready once the database is open and the configuration (rules included) loaded.
    await Promise.race([waitUntilReady(`${url}/-/ready`), exited]);
  } catch (error) {
    await terminate(child);
    throw error;
  }
  return {
    url,
    target: options.target,
    scrapeIntervalSeconds: options.scrapeIntervalSeconds,
    stop: () => terminate(child),
  };
}

async function waitUntilReady(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = await fetch(url).then(
      (response) => response.arrayBuffer().then(() => response.ok),
      () => false,
    );
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`prometheus did not become ready at ${url} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
