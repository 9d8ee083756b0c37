import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { findBinary } from "./binaries.ts";
import { freeze, terminate, thaw } from "./child.ts";
import { waitForPort } from "./ports.ts";

export const CLAMD_INSTALL_HINT =
  "clamd is not installed: `sudo apt-get install clamav-daemon` (Debian/Ubuntu) or `brew install clamav` (macOS), or set CLAMD_BIN";

/**
 * The signature database the local clamd loads: the EICAR test file's MD5, its size and a name.
 * Nothing is downloaded, so the stack starts offline in seconds and finds exactly one "virus".
 */
const EICAR_SIGNATURE = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n";

export interface ClamdOptions {
  port: number;
  dataDir: string;
  /** clamd refuses streams longer than this; set it to the upload limit. */
  maxStreamBytes: number;
}

export interface Clamd {
  /** `host:port`, as CLAMD_ADDRESS expects. */
  readonly address: string;
  stop(): Promise<void>;
  /** Freezes clamd (SIGSTOP): connections are accepted and never answered, as a hung daemon. */
  pause(): Promise<void>;
  /** Lets a paused clamd go on (SIGCONT). */
  resume(): Promise<void>;
}

/** The clamd binary: CLAMD_BIN if set, else on PATH or where packages put it; undefined when there is none. */
export function findClamd(): string | undefined {
  return findBinary("clamd", {
    override: "CLAMD_BIN",
    extraDirs: ["/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin"],
  });
}

/** A real clamd on loopback with a local signature database (see EICAR_SIGNATURE). */
export async function startClamd(binary: string, options: ClamdOptions): Promise<Clamd> {
  const database = path.join(options.dataDir, "db");
  await mkdir(database, { recursive: true });
  await writeFile(path.join(database, "local.hdb"), EICAR_SIGNATURE);
  const config = path.join(options.dataDir, "clamd.conf");
  const megabytes = Math.ceil(options.maxStreamBytes / (1024 * 1024)) + 1;
  await writeFile(
    config,
    [
      "Foreground yes",
      `DatabaseDirectory ${database}`,
      "TCPAddr 127.0.0.1",
      `TCPSocket ${options.port}`,
      `LogFile ${path.join(options.dataDir, "clamd.log")}`,
      // clamd scans the whole stream; the defaults (25 MB) are below our upload limit.
      `StreamMaxLength ${megabytes}M`,
      `MaxScanSize ${megabytes}M`,
      `MaxFileSize ${megabytes}M`,
      "",
    ].join("\n"),
  );
  const log = createWriteStream(path.join(options.dataDir, "clamd.out.log"), { flags: "a" });
  const child: ChildProcess = spawn(binary, ["--config-file", config], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) =>
      reject(
        new Error(`clamd exited (code ${code}) while starting; see ${path.join(options.dataDir, "clamd.out.log")}`),
      ),
    ),
  );
  // Only matters while starting; afterwards an exit is reported by the scans that fail.
  exited.catch(() => {});
  try {
    // Loading signatures takes a few seconds even for a one-line database.
    await Promise.race([waitForPort(options.port, 60_000), exited]);
  } catch (error) {
    await terminate(child);
    throw error;
  }
  return {
    address: `127.0.0.1:${options.port}`,
    stop: () => terminate(child),
    pause: async () => freeze(child),
    resume: async () => thaw(child),
  };
}
