// The staging refresh: production's schema (by the project's migrations) and a deterministic,
// anonymised sample of its rows, written into staging's database in one transaction, with a
// placeholder object per document version in staging's bucket. What happens to each table and
// column is the map in ./tables.ts.
import pg from "pg";
import { applyMigrations } from "../../stack/migrate.ts";
import { checkRefreshTargets, checkTargetMarker, RefreshRefused, STAGING_MARKER } from "./guard.ts";
import { stagingPasswordHash } from "./password.ts";
import { Pseudonyms } from "./pseudonyms.ts";
import { type RowContext, type SampleSets, STAGING_TABLES, type TableSpec } from "./tables.ts";

/** The password every sampled user has in staging, unless `--password` says otherwise. */
export const DEFAULT_STAGING_PASSWORD = "staging password";

export interface RefreshOptions {
  /** Production (or any source), read in one read-only snapshot as the system. */
  sourceUrl: string | undefined;
  /** Staging's database, unpooled (Neon's DATABASE_URL_UNPOOLED): emptied and rewritten. */
  targetUrl: string | undefined;
  /** Must be "staging" (`--target-environment`). */
  targetEnvironment: string | undefined;
  /** When set, a target equal to it is refused. */
  productionUrl?: string | undefined;
  /** How many users the sample takes (fewer when the source has fewer). */
  users: number;
  /** Chooses the sample and keys every stand-in: the same seed over the same source writes the same staging. */
  seed: string;
  /** Every sampled user's password in staging. */
  password?: string;
  /**
   * Stores a placeholder object in staging's bucket. Without it no object is written: the rows
   * still name their placeholders, and downloads answer that the file is missing.
   */
  putObject?: (key: string, body: Buffer, contentType: string) => Promise<void>;
  /** Rows per fetch and per insert. */
  batchSize?: number;
  onProgress?: (message: string) => void;
}

export interface RefreshResult {
  /** Rows written per copied table, and the rebuilt search index's rows. */
  rows: Record<string, number>;
  /** Placeholder objects written. */
  objects: number;
  seconds: number;
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
const uuidArray = (ids: Iterable<string>) => `${pg.escapeLiteral(`{${[...ids].join(",")}}`)}::uuid[]`;

async function begin(client: pg.Client, mode: string): Promise<void> {
  await client.query(`begin ${mode}`);
  // Forced row-level security applies to the owner role too: the system sees and writes every row.
  await client.query("select set_config('app.role', 'system', true)");
}

async function migrationCount(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: number }>("select count(*)::int as n from drizzle.__drizzle_migrations");
  return rows[0]?.n ?? 0;
}

/** The sample's ids, read in the source's snapshot. */
async function chooseSample(source: pg.Client, seed: string, users: number): Promise<SampleSets> {
  const ids = async (sql: string, params: unknown[]) =>
    new Set((await source.query<{ id: string }>(sql, params)).rows.map((row) => row.id));
  // md5 only spreads the choice over the ids; what makes it the seed's is the seed in the input.
  const sampledUsers = await ids("select id from users order by md5($1 || ':' || id::text), id limit $2", [
    seed,
    users,
  ]);
  const userList = [...sampledUsers];
  const projects = await ids(
    "select distinct project_id as id from project_members where role = 'owner' and user_id = any($1::uuid[])",
    [userList],
  );
  const documents = await ids(
    "select id from documents where owner_id = any($1::uuid[]) and (project_id is null or project_id = any($2::uuid[]))",
    [userList, [...projects]],
  );
  const searchQueries = await ids("select id from search_queries where user_id = any($1::uuid[])", [userList]);
  return { users: sampledUsers, projects, documents, searchQueries };
}

function transform(spec: Extract<TableSpec, { mode: "copy" }>, ctx: RowContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [column, treatment] of Object.entries(spec.columns)) {
    const value = ctx.row[column] ?? null;
    if (treatment.kind === "keep") out[column] = value;
    else if (treatment.kind === "in-sample")
      out[column] = value !== null && ctx.sample[treatment.of].has(String(value)) ? value : null;
    else out[column] = treatment.value(ctx);
  }
  return out;
}

/** Runs `work` over `items` with at most `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(lanes);
}

/**
 * Refreshes staging from the source. Throws `RefreshRefused` (before writing anything) when a
 * rule of ./guard.ts refuses the targets or the source's schema differs from the migrations';
 * any other failure rolls the target back to what it was.
 */
export async function refreshStaging(options: RefreshOptions): Promise<RefreshResult> {
  const started = performance.now();
  checkRefreshTargets(options);
  const sourceUrl = options.sourceUrl as string;
  const targetUrl = options.targetUrl as string;
  if (!Number.isInteger(options.users) || options.users < 1)
    throw new RefreshRefused("--users must be a positive integer");
  const progress = options.onProgress ?? (() => {});
  const batchSize = options.batchSize ?? 500;
  const p = new Pseudonyms(options.seed);
  const passwordHash = await stagingPasswordHash(
    options.password ?? DEFAULT_STAGING_PASSWORD,
    new Uint8Array(Buffer.from(p.hex("password-salt").slice(0, 32), "hex")),
  );

  const target = new pg.Client({ connectionString: targetUrl });
  const source = new pg.Client({ connectionString: sourceUrl });
  await target.connect();
  let sourceConnected = false;
  try {
    await begin(target, "");
    const { rows: state } = await target.query<{ comment: string | null; has_users: boolean }>(
      `select shobj_description(d.oid, 'pg_database') as comment, to_regclass('public.users') is not null as has_users
         from pg_database d where d.datname = current_database()`,
    );
    const users = state[0]?.has_users
      ? ((await target.query<{ n: number }>("select count(*)::int as n from users")).rows[0]?.n ?? 0)
      : 0;
    checkTargetMarker({ comment: state[0]?.comment ?? null, users });
    await target.query("commit");

    progress("applying the migrations to the target");
    await applyMigrations(targetUrl);

    await source.connect();
    sourceConnected = true;
    // One snapshot for the whole copy, and no way to write: the source is production.
    await begin(source, "isolation level repeatable read read only");
    const [sourceMigrations, targetMigrations] = [await migrationCount(source), await migrationCount(target)];
    if (sourceMigrations !== targetMigrations) {
      throw new RefreshRefused(
        `the source has ${sourceMigrations} migrations applied and this checkout ${targetMigrations}: refresh from a checkout of the version production runs`,
      );
    }
    const sample = await chooseSample(source, options.seed, options.users);
    progress(
      `sample of seed ${options.seed}: ${sample.users.size} users, ${sample.projects.size} projects, ${sample.documents.size} documents`,
    );

    const tables = Object.keys(STAGING_TABLES);
    await begin(target, "");
    await target.query(`truncate ${tables.map(quote).join(", ")} restart identity`);
    // The rows are copied as they are, so the triggers that derive rows (activity, search) or
    // guard changes made through the app must not run; foreign keys stay checked. DISABLE
    // TRIGGER needs only ownership (Neon's owner role), and is undone before the commit.
    for (const table of tables) await target.query(`alter table ${quote(table)} disable trigger user`);

    const rows: Record<string, number> = {};
    let objects = 0;
    const arrays: Record<string, string> = {
      "{users}": uuidArray(sample.users),
      "{projects}": uuidArray(sample.projects),
      "{documents}": uuidArray(sample.documents),
      "{searchQueries}": uuidArray(sample.searchQueries),
    };
    for (const [table, spec] of Object.entries(STAGING_TABLES)) {
      if (spec.mode !== "copy") continue;
      const where = spec.where.replace(/\{\w+\}/g, (token) => {
        const literal = arrays[token];
        if (!literal) throw new Error(`unknown sample ${token} in ${table}'s filter`);
        return literal;
      });
      const extra = Object.entries(spec.extra ?? {})
        .map(([name, expression]) => ` || jsonb_build_object('_${name}', ${expression})`)
        .join("");
      const select = `select to_jsonb(t)${extra} as r from ${quote(table)} t where ${where} order by ${spec.orderBy}`;
      const columns = Object.keys(spec.columns).map(quote).join(", ");
      const insert = `insert into ${quote(table)} (${columns}) ${spec.identity ? "overriding system value" : ""} select ${columns} from jsonb_populate_recordset(null::${quote(table)}, $1::jsonb)`;
      await source.query(`declare staging_copy no scroll cursor for ${select}`);
      let count = 0;
      for (;;) {
        const batch = await source.query<{ r: Record<string, unknown> }>(
          `fetch forward ${batchSize} from staging_copy`,
        );
        if (batch.rows.length === 0) break;
        const contexts = batch.rows.map((row): RowContext => ({ row: row.r, p, sample, passwordHash }));
        if (spec.object && options.putObject) {
          const put = options.putObject;
          const place = spec.object;
          // Objects before rows: a staging row never names a missing object.
          await eachLimited(contexts, 8, async (ctx) => {
            const placeholder = place(ctx);
            await put(placeholder.key, placeholder.body, placeholder.contentType);
          });
          objects += contexts.length;
        }
        await target.query(insert, [JSON.stringify(contexts.map((ctx) => transform(spec, ctx)))]);
        count += batch.rows.length;
      }
      await source.query("close staging_copy");
      rows[table] = count;
      progress(`${table}: ${count} rows`);
    }

    // The search index and its vocabulary, from the stand-in titles, tags and text.
    const indexed = await target.query("select refresh_document_search(id, true) from documents order by id");
    rows.document_search = indexed.rowCount ?? 0;
    // Dated like its document rather than by the clock, so two refreshes write the same rows.
    await target.query(
      "update document_search s set updated_at = d.updated_at from documents d where d.id = s.document_id",
    );
    for (const table of tables) await target.query(`alter table ${quote(table)} enable trigger user`);
    for (const [table, spec] of Object.entries(STAGING_TABLES)) {
      if (spec.mode !== "copy" || !spec.identity) continue;
      const column = spec.identity;
      await target.query(
        `select setval(pg_get_serial_sequence($1, $2), coalesce((select max(${quote(column)}) from ${quote(table)}), 0) + 1, false)`,
        [table, column],
      );
    }
    await target.query(
      `do $$ begin execute format('comment on database %I is %L', current_database(), ${pg.escapeLiteral(STAGING_MARKER)}); end $$`,
    );
    await target.query("commit");
    return { rows, objects, seconds: (performance.now() - started) / 1000 };
  } catch (error) {
    await target.query("rollback").catch(() => {});
    throw error;
  } finally {
    if (sourceConnected) {
      await source.query("rollback").catch(() => {});
      await source.end();
    }
    await target.end();
  }
}
