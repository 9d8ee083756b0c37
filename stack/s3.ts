import { type ChildProcess, fork } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { freeze, terminate, thaw } from "./child.ts";

export interface S3Options {
  port: number;
  directory: string;
  buckets: string[];
}

export interface S3Server {
  readonly endpoint: string;
  readonly port: number;
  /** s3rver's fixed credentials. */
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Freezes s3rver (SIGSTOP): connections are accepted and never answered, as a hung server. */
  pause(): Promise<void>;
  /** Lets a paused s3rver go on (SIGCONT). */
  resume(): Promise<void>;
}

const entry = fileURLToPath(new URL("./s3-server.ts", import.meta.url));

/**
 * An S3-compatible server (s3rver) with the buckets created at start. Clients need path-style
 * addressing and `requestChecksumCalculation`/`responseChecksumValidation` = "WHEN_REQUIRED".
 */
export async function startS3(options: S3Options): Promise<S3Server> {
  await mkdir(options.directory, { recursive: true });
  let child: ChildProcess | undefined;

  async function start(): Promise<void> {
    if (child) return;
    const started = fork(entry, [JSON.stringify(options)], {
      execArgv: ["--openssl-legacy-provider", "--no-warnings"],
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    child = started;
    started.once("exit", () => {
      if (child === started) child = undefined;
    });
    await new Promise<void>((resolve, reject) => {
      started.once("message", () => resolve());
      started.once("exit", (code) => reject(new Error(`s3rver exited with code ${code} before it was ready`)));
    });
  }

  await start();
  return {
    endpoint: `http://127.0.0.1:${options.port}`,
    port: options.port,
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
    start,
    async stop() {
      const running = child;
      child = undefined;
      if (running) await terminate(running);
    },
    async pause() {
      freeze(child);
    },
    async resume() {
      thaw(child);
    },
  };
}
