import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { findBinary } from "./binaries.ts";
import { terminate } from "./child.ts";
import { waitForPort } from "./ports.ts";

export interface RedisOptions {
  port: number;
  /** Where the dump lives when `persistent`, and where the log goes. */
  dataDir: string;
  persistent: boolean;
}

export interface RedisServer {
  readonly port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open and nothing answers, as a hung server. */
  pause(): Promise<void>;
  /** Lets a paused server go on (SIGCONT). */
  resume(): Promise<void>;
}

export const REDIS_INSTALL_HINT =
  "redis-server is not installed: `sudo apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS), or set REDIS_SERVER_BIN";

/** The redis-server binary: REDIS_SERVER_BIN if set, else the first on PATH; undefined when there is none. */
export function findRedisServer(): string | undefined {
  return findBinary("redis-server", { override: "REDIS_SERVER_BIN", extraDirs: ["/usr/bin", "/usr/sbin"] });
}

/** A real redis-server on loopback, started from the system's binary. */
export async function startRedis(binary: string, options: RedisOptions): Promise<RedisServer> {
  await mkdir(options.dataDir, { recursive: true });
  const args = [
    "--port",
    String(options.port),
    "--bind",
    "127.0.0.1",
    "--dir",
    options.dataDir,
    "--daemonize",
    "no",
    "--appendonly",
    "no",
    // A snapshot every minute when something changed keeps dev data across runs; tests keep none.
    "--save",
    options.persistent ? "60 1" : "",
  ];
  let child: ChildProcess | undefined;

  async function start(): Promise<void> {
    if (child) return;
    const log = createWriteStream(path.join(options.dataDir, "redis.log"), { flags: "a" });
    const started = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    started.stdout?.pipe(log);
    started.stderr?.pipe(log);
    started.once("exit", () => {
      if (child === started) child = undefined;
    });
    child = started;
    await waitForPort(options.port);
  }

  await start();
  return {
    port: options.port,
    start,
    async stop() {
      const running = child;
      child = undefined;
      if (running) {
        running.kill("SIGCONT");
        await terminate(running);
      }
    },
    async pause() {
      child?.kill("SIGSTOP");
    },
    async resume() {
      child?.kill("SIGCONT");
    },
  };
}
