// The database side of backups, without pg_dump: the stack's server is Postgres 18 and Debian's
// pg_dump is 15, which refuses a newer server ("server version mismatch"). A dump here is every
// table of the `public` schema COPYed out in one REPEATABLE READ READ ONLY transaction (one snapshot,
// so rows across tables agree as at one instant), plus the sequences and drizzle's migration journal;
// the schema itself is not dumped: a restore applies the migrations up to the same journal entry.
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import { readMigrationFiles } from "drizzle-orm/migrator";
import pg from "pg";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import { applyMigrations, MIGRATIONS_DIR } from "../../stack/migrate.ts";
import type { Manifest, TableDump } from "./manifest.ts";
import { digesting } from "./objects.ts";

type DatabasePart = Manifest["database"];

/** `"name"` as an SQL identifier. */
const ident = (name: string) => pg.escapeIdentifier(name);

/** Tables of `public` that hold rows (plain and partitioned parents; partitions are read through their parent). */
async function tablesOf(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition order by c.relname`,
  );
  return rows.map((r) => r.name);
}

/**
 * The UTC months a table partitioned by month (`create_month_partition`, migration 0038) holds rows
 * of; undefined for a table that is not partitioned.
 */
async function monthsOf(client: pg.ClientBase, table: string): Promise<string[] | undefined> {
  const key = await client.query<{ column: string }>(
    `select a.attname as column from pg_partitioned_table p
     join pg_attribute a on a.attrelid = p.partrelid and a.attnum = p.partattrs[0]
     where p.partrelid = $1::regclass`,
    [`public.${ident(table)}`],
  );
  const column = key.rows[0]?.column;
  if (!column) return undefined;
  const { rows } = await client.query<{ month: Date }>(
    `select distinct date_trunc('month', ${ident(column)} at time zone 'UTC') at time zone 'UTC' as month
     from public.${ident(table)} order by 1`,
  );
  return rows.map((r) => r.month.toISOString());
}

/** Stored columns of a table in order; generated ones are computed again on load. */
async function columnsOf(client: pg.ClientBase, table: string): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `select attname as name from pg_attribute
     where attrelid = $1::regclass and attnum > 0 and not attisdropped and attgenerated = '' order by attnum`,
    [`public.${ident(table)}`],
  );
  return rows.map((r) => r.name);
}

/**
 * Dumps the database through `store` (which uploads one table's gzip stream and resolves once it is
 * stored). Reads as the `system` actor, which every row-level security policy of the schema admits
 * (the app's role owns the tables and the policies are forced on it).
 */
export async function dumpDatabase(
  databaseUrl: string,
  store: (table: string, dump: Readable) => Promise<{ key: string }>,
): Promise<DatabasePart> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("begin isolation level repeatable read read only");
    await client.query("select set_config('app.role', 'system', true)");
    const meta = await client.query<{ snapshot_at: Date; server_version: string }>(
      "select now() as snapshot_at, current_setting('server_version') as server_version",
    );
    const journal = await client.query<{ hash: string; created_at: string }>(
      "select hash, created_at::text from drizzle.__drizzle_migrations order by id",
    );
    const tables: TableDump[] = [];
    for (const name of await tablesOf(client)) {
      const columns = await columnsOf(client, name);
      const months = await monthsOf(client, name);
      const copy = client.query(
        copyTo(`copy (select ${columns.map(ident).join(", ")} from public.${ident(name)}) to stdout`),
      );
      const digest = digesting();
      const storing = store(name, digest);
      await Promise.all([pipeline(copy, createGzip(), digest), storing]);
      const { key } = await storing;
      tables.push({ name, columns, rows: copy.rowCount, key, ...digestOf(digest), ...(months ? { months } : {}) });
    }
    const sequenceNames = await client.query<{ name: string }>(
      `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind = 'S' order by c.relname`,
    );
    const sequences: DatabasePart["sequences"] = [];
    for (const { name } of sequenceNames.rows) {
      const { rows } = await client.query<{ last_value: string; is_called: boolean }>(
        `select last_value::text, is_called from public.${ident(name)}`,
      );
      const row = rows[0];
      if (row) sequences.push({ name, lastValue: row.last_value, isCalled: row.is_called });
    }
    await client.query("commit");
    const snapshotAt = meta.rows[0]?.snapshot_at ?? new Date();
    return {
      snapshotAt: snapshotAt.toISOString(),
      serverVersion: meta.rows[0]?.server_version ?? "",
      migrations: journal.rows.map((r) => ({ hash: r.hash, createdAt: r.created_at })),
      tables,
      sequences,
    };
  } finally {
    await client.end();
  }
}

function digestOf(digest: ReturnType<typeof digesting>): { bytes: number; sha256: string } {
  const { bytes, sha256 } = digest.digest();
  return { bytes, sha256 };
}

/** Thrown when a restore's target is not what a restore may write into; the message is one line. */
export class RestoreRefused extends Error {
  override name = "RestoreRefused";
}

/**
 * Refuses a database that has anything of ours in it.
 * @throws RestoreRefused naming what is there.
 */
export async function assertDatabaseEmpty(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ relations: number; journal: boolean; db: string }>(
      `select (select count(*)::int from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'S')) as relations,
              to_regclass('drizzle.__drizzle_migrations') is not null as journal,
              current_database() as db`,
    );
    const found = rows[0];
    if (found && (found.relations > 0 || found.journal))
      throw new RestoreRefused(
        `database "${found.db}" is not empty (${found.relations} tables, views or sequences in public${found.journal ? ", a migration journal" : ""}): restore needs an empty database`,
      );
  } finally {
    await client.end();
  }
}

/**
 * Refuses a backup whose migrations are not the first entries of this checkout's (`migrations/`):
 * rows fit the schema they were dumped from, so a restore builds that schema, loads, then migrates on.
 * @throws RestoreRefused when the backup's journal is not a prefix of this checkout's.
 */
export function assertSchemaBuildable(backup: DatabasePart["migrations"]): void {
  const local = readMigrationFiles({ migrationsFolder: MIGRATIONS_DIR });
  const fits = backup.length <= local.length && backup.every((m, i) => local[i]?.hash === m.hash);
  if (!fits)
    throw new RestoreRefused(
      `the backup's schema (${backup.length} migrations) is not one this checkout's migrations/ (${local.length}) can build: restore with the release that took it`,
    );
}

/**
 * Refuses a role that cannot build the schema as the platform needs it: a superuser (the tables
 * would be the superuser's, not the platform's role's, and row-level security would not be forced
 * on the app), or a role without CREATE on the database (the migrations make the schemas `drizzle`
 * and `repartition` and the extension pg_trgm) and USAGE and CREATE on schema `public` (every table).
 * @throws RestoreRefused naming the role, what it lacks and what to do.
 */
export async function assertRoleCanRestore(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{
      role: string;
      db: string;
      owner: string;
      superuser: boolean;
      on_database: boolean;
      public_exists: boolean;
      on_public: boolean;
    }>(
      `select current_user as role, current_database() as db,
              (select pg_get_userbyid(datdba) from pg_database where datname = current_database()) as owner,
              (select rolsuper from pg_roles where rolname = current_user) as superuser,
              has_database_privilege(current_database(), 'CREATE') as on_database,
              to_regnamespace('public') is not null as public_exists,
              coalesce(to_regnamespace('public') is not null
                       and has_schema_privilege('public', 'USAGE') and has_schema_privilege('public', 'CREATE'), false) as on_public`,
    );
    const found = rows[0];
    if (!found) return;
    const role = ident(found.role);
    if (found.superuser)
      throw new RestoreRefused(
        `role ${role} is a superuser: the restored tables would be owned by it, not by the platform's role; connect as the role the platform's tables belong to (e.g. techcorp_app, Neon's neondb_owner), in a database it owns`,
      );
    const lacks = [
      ...(found.on_database ? [] : [`CREATE on database ${ident(found.db)}`]),
      ...(!found.public_exists ? ["a schema public"] : found.on_public ? [] : ["USAGE and CREATE on schema public"]),
    ];
    if (lacks.length > 0)
      throw new RestoreRefused(
        `role ${role} cannot build the schema in database ${ident(found.db)} (owned by ${ident(found.owner)}): it lacks ${lacks.join(" and ")}; create the database owned by the platform's role (create database … owner ${role}) or connect as its owner`,
      );
  } finally {
    await client.end();
  }
}

/**
 * A copy of `migrations/` whose journal stops at the backup's last entry (drizzle's migrator
 * applies a folder whole). The caller removes it.
 * @throws RestoreRefused when the backup's journal is not a prefix of this checkout's.
 */
async function migrationsUpTo(backup: DatabasePart["migrations"]): Promise<string> {
  assertSchemaBuildable(backup);
  const folder = await mkdtemp(path.join(tmpdir(), "restore-migrations-"));
  await cp(MIGRATIONS_DIR, folder, { recursive: true });
  const journalFile = path.join(folder, "meta", "_journal.json");
  const journal = JSON.parse(await readFile(journalFile, "utf8")) as { entries: unknown[] };
  journal.entries = journal.entries.slice(0, backup.length);
  await writeFile(journalFile, JSON.stringify(journal));
  return folder;
}

export interface LoadedTable {
  name: string;
  rows: number;
}

/**
 * Restores a dump into an empty database: the schema as of the backup (its migrations), then every
 * table in foreign-key order in one transaction, sequences set, then the later migrations of this
 * checkout. Runs as the tables' owner: within the transaction it lifts FORCE ROW LEVEL SECURITY
 * (COPY FROM refuses a table whose policies apply to the caller) and the user triggers (activity
 * and search triggers would add rows the dump already has), and puts both back as they were
 * before it commits, so no other session ever sees them lifted.
 * `committed` is called once the load has committed (before the newer migrations).
 * @throws RestoreRefused when the database is not empty or the schema cannot be built.
 * @throws Error when a table's row count differs from the manifest (the load is not committed; the
 *   schema built before it is), or a migration fails.
 */
export async function restoreDatabase(
  databaseUrl: string,
  dump: DatabasePart,
  open: (key: string) => Promise<Readable>,
  committed: () => void = () => {},
): Promise<LoadedTable[]> {
  await assertDatabaseEmpty(databaseUrl);
  const folder = await migrationsUpTo(dump.migrations);
  try {
    await applyMigrations(databaseUrl, folder);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const loaded: LoadedTable[] = [];
  try {
    await client.query("begin");
    await client.query("select set_config('app.role', 'system', true)");
    const order = await foreignKeyOrder(
      client,
      dump.tables.map((t) => t.name),
    );
    const byName = new Map(dump.tables.map((t) => [t.name, t]));
    for (const name of order) {
      const table = byName.get(name);
      if (!table) continue;
      const relation = `public.${ident(name)}`;
      const state = await client.query<{ forced: boolean }>(
        "select relforcerowsecurity as forced from pg_class where oid = $1::regclass",
        [relation],
      );
      const triggers = await client.query<{ name: string; enabled: string }>(
        "select tgname as name, tgenabled as enabled from pg_trigger where tgrelid = $1::regclass and not tgisinternal and tgenabled <> 'D'",
        [relation],
      );
      for (const month of table.months ?? [])
        await client.query("select create_month_partition($1::regclass, $2::timestamptz)", [relation, month]);
      if (state.rows[0]?.forced) await client.query(`alter table ${relation} no force row level security`);
      for (const t of triggers.rows) await client.query(`alter table ${relation} disable trigger ${ident(t.name)}`);

      const copy = client.query(copyFrom(`copy ${relation} (${table.columns.map(ident).join(", ")}) from stdin`));
      await pipeline(await open(table.key), createGunzip(), copy);
      if (copy.rowCount !== table.rows)
        throw new Error(`table ${name}: ${copy.rowCount} rows loaded, the backup has ${table.rows}`);
      loaded.push({ name, rows: copy.rowCount });

      for (const t of triggers.rows) {
        const how = t.enabled === "A" ? "enable always" : t.enabled === "R" ? "enable replica" : "enable";
        await client.query(`alter table ${relation} ${how} trigger ${ident(t.name)}`);
      }
      if (state.rows[0]?.forced) await client.query(`alter table ${relation} force row level security`);
    }
    for (const s of dump.sequences) {
      await client.query("select setval($1::regclass, $2::bigint, $3)", [
        `public.${ident(s.name)}`,
        s.lastValue,
        s.isCalled,
      ]);
    }
    await client.query("commit");
    committed();
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
  // Then whatever this checkout adds after the backup's schema.
  await applyMigrations(databaseUrl);
  return loaded;
}

/**
 * `tables` ordered so that every table comes after the tables its foreign keys reference (a table
 * referencing itself is fine: its rows are checked at the end of the COPY).
 * @throws Error on a cycle of foreign keys between tables.
 */
export async function foreignKeyOrder(client: pg.ClientBase, tables: string[]): Promise<string[]> {
  const { rows } = await client.query<{ child: string; parent: string }>(
    `select distinct c.relname as child, p.relname as parent
     from pg_constraint k
     join pg_class c on c.oid = k.conrelid join pg_namespace cn on cn.oid = c.relnamespace
     join pg_class p on p.oid = k.confrelid
     where k.contype = 'f' and cn.nspname = 'public' and k.conparentid = 0`,
  );
  const wanted = new Set(tables);
  const parents = new Map<string, Set<string>>(tables.map((t) => [t, new Set<string>()]));
  for (const { child, parent } of rows) {
    if (child !== parent && wanted.has(child) && wanted.has(parent)) parents.get(child)?.add(parent);
  }
  const ordered: string[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const visit = (table: string) => {
    if (done.has(table)) return;
    if (visiting.has(table)) throw new Error(`foreign keys form a cycle through ${table}`);
    visiting.add(table);
    for (const parent of [...(parents.get(table) ?? [])].sort()) visit(parent);
    visiting.delete(table);
    done.add(table);
    ordered.push(table);
  };
  for (const table of [...tables].sort()) visit(table);
  return ordered;
}
