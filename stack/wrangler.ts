import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { terminate } from "./child.ts";

export const ROOT = path.resolve(import.meta.dirname, "..");
const WRANGLER = path.join(ROOT, "node_modules/wrangler/bin/wrangler.js");

export interface WranglerDevOptions {
  /** Wrangler configs; the first one's worker answers on `port`, the others run beside it. */
  configs: string[];
  /** Bindings for every worker of the session (written to an env file). */
  env: Record<string, string>;
  envFile: string;
  /** More env files loaded after ours, e.g. a developer's .dev.vars. */
  extraEnvFiles?: string[];
  port: number;
  /** Devtools port; give each concurrent session its own (wrangler's default is 9229). */
  inspectorPort?: number;
  persistTo: string;
  /**
   * "inherit" shows wrangler's output (dev); "ignore" keeps a benchmark's output clean; a file
   * descriptor keeps it in a file (the browser tests' log).
   */
  output: "inherit" | "ignore" | number;
}

export interface WranglerDev {
  readonly url: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Writes bindings in the dotenv format wrangler reads with --env-file. Values go in single quotes,
 * which dotenv takes literally (double quotes would leave JSON's escaped quotes escaped).
 */
export async function writeEnvFile(file: string, env: Record<string, string>): Promise<void> {
  const lines = Object.entries(env).map(([key, value]) => {
    if (value.includes("'") || value.includes("\n")) throw new Error(`${key} cannot be written to an env file`);
    return `${key}='${value}'`;
  });
  await writeFile(file, `${lines.join("\n")}\n`);
}

/** `wrangler dev` with several workers in one session (queues and Durable Objects shared by Miniflare). */
export async function startWranglerDev(options: WranglerDevOptions): Promise<WranglerDev> {
  await writeEnvFile(options.envFile, options.env);
  const child = spawn(
    process.execPath,
    [
      WRANGLER,
      "dev",
      // The top-level (development) environment, named so wrangler does not warn that none was.
      "--env=",
      ...options.configs.flatMap((config) => ["--config", config]),
      ...[options.envFile, ...(options.extraEnvFiles ?? [])].flatMap((file) => ["--env-file", file]),
      "--ip",
      "127.0.0.1",
      "--port",
      String(options.port),
      ...(options.inspectorPort ? ["--inspector-port", String(options.inspectorPort)] : []),
      "--persist-to",
      options.persistTo,
      "--show-interactive-dev-session=false",
    ],
    {
      cwd: ROOT,
      stdio: ["ignore", options.output, options.output],
      // The bindings in wrangler's own environment too: it lets a variable of its environment win
      // over the env file, and the test run's global setup puts the stack's bindings there.
      env: { ...process.env, ...options.env, WRANGLER_SEND_METRICS: "false" },
    },
  );
  const url = `http://127.0.0.1:${options.port}`;
  return {
    url,
    process: child,
    stop: () => terminate(child),
  };
}

/** Resolves once `url` answers (any status), or rejects when the process dies or time runs out. */
export async function waitUntilServing(url: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler exited with code ${child.exitCode}`);
    const answered = await fetch(url).then(
      () => true,
      () => false,
    );
    if (answered) return;
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
