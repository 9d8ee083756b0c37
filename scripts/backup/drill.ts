// The restore drill (test/node/restore-drill.test.ts, `npm run drill:restore`): a platform of its own
// (its own Postgres cluster and buckets, both workers in `wrangler dev`; Redis off so no cache can
// answer for the database, the stack's S3 server, clamd and mail shared), filled, backed up,
// written to, destroyed, restored, and checked; with the time of each step.
import { randomBytes } from "node:crypto";
import { mkdir, open } from "node:fs/promises";
import path from "node:path";
import { deflateSync } from "node:zlib";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  HeadBucketCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import CRC32 from "crc-32";
import pg from "pg";
import { applyMigrations } from "../../stack/migrate.ts";
import { startNeonProxy } from "../../stack/neon-proxy.ts";
import { freePort } from "../../stack/ports.ts";
import { startPostgres } from "../../stack/postgres.ts";
import { startWranglerDev, type WranglerDev, waitUntilServing } from "../../stack/wrangler.ts";
import { CORPUS_PASSWORD, loadBulk } from "../corpus/bulk.ts";
import { corpusUsers } from "../corpus/generate.ts";
import { loadThroughApi } from "../corpus/through-api.ts";
import { asSystemSession } from "../system-session.ts";
import { type BackupTarget, s3Client } from "./config.ts";
import { RestoreRefused } from "./database.ts";
import { BUCKET_ROLES } from "./manifest.ts";
import { hashObject, listObjects } from "./objects.ts";
import { type BackupReport, RestoreFailed, type RestoreReport, runBackup, runRestore, type StepTimes } from "./run.ts";

export interface DrillOptions {
  /** The bindings of a running stack (its S3 server, clamd, mail; its database is not touched). */
  stack: Record<string, string>;
  /** Scratch folder for the drill's Postgres cluster, wrangler's state and logs. */
  dir: string;
  /** Corpus documents loaded in bulk, and uploaded through the API. */
  bulkDocuments?: number;
  apiDocuments?: number;
  /** Writes made after the backup (documents uploaded): what the drill expects to lose. */
  writesAfterBackup?: number;
  /** Aborting stops the drill's platform at once (its workers and cluster); the drill then throws. */
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** What a platform holds, as the drill compares it before the backup and after the restore. */
export interface PlatformState {
  rows: Record<string, number>;
  /** `role/key` → SHA-256 of every stored object. */
  objects: Record<string, string>;
  /** Tables with FORCE ROW LEVEL SECURITY, and enabled user triggers (`table.trigger`). */
  forcedTables: string[];
  enabledTriggers: string[];
  /** Rows of each partition of the tables partitioned by month (`partition` → rows): a restore must put them back in their month. */
  partitionRows: Record<string, number>;
  /** Ids of the documents a search query answers, in order. */
  searchIds: string[];
}

export interface DrillReport {
  before: PlatformState;
  after: PlatformState;
  backup: BackupReport;
  restore: RestoreReport;
  /** Writes made after the backup, and how many of them the restored platform has. */
  rpo: { writesAfterBackup: number; writesLost: number; windowMs: number };
  /** From the platform destroyed to the restored API answering, per step. */
  rto: { totalMs: number; steps: StepTimes };
  signIns: { username: string; status: number }[];
  searchQuery: string;
  /**
   * The one-line refusals of a second restore: over the restored database, into an empty one over
   * the restored buckets, into a bucket that does not exist, as the cluster's superuser, as a role
   * that may not build the schema (a database the superuser owns), and with --create-buckets into a
   * missing documents bucket beside a thumbnails bucket that is not empty; `bucketsMade` lists the
   * missing buckets that exist after those refusals with --create-buckets (none should).
   */
  refusals: {
    database: string;
    buckets: string;
    missingBucket: string;
    superuser: string;
    privileges: string;
    notEmptyWithCreate: string;
    bucketsMade: string[];
  };
  /**
   * A restore that fails after it started writing (into a database holding a leftover schema
   * `repartition`, which a migration creates): its one line, and the buckets it made that are
   * still there afterwards (none should be).
   */
  failedRestore: { message: string; bucketsLeft: string[] };
}

/** A PNG of a gradient (8-bit RGB), enough for the processor to make a thumbnail of. */
export function gradientPng(width: number, height: number): Uint8Array {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const crc = Buffer.alloc(4);
    crc.writeInt32BE(CRC32.buf(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) raw.set([(x * 255) / width, (y * 255) / height, 128], row + 1 + x * 3);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Those of `buckets` that exist. */
async function existing(s3: S3Client, buckets: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const bucket of buckets) {
    const exists = await s3.send(new HeadBucketCommand({ Bucket: bucket })).then(
      () => true,
      (error: unknown) => {
        if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
        throw error;
      },
    );
    if (exists) found.push(bucket);
  }
  return found;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function tokenFor(api: string, username: string): Promise<{ status: number; token?: string }> {
  const res = await fetch(`${api}/auth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "password", username, password: CORPUS_PASSWORD }).toString(),
  });
  if (res.status !== 200) {
    await res.body?.cancel();
    return { status: res.status };
  }
  return { status: 200, token: ((await res.json()) as { access_token: string }).access_token };
}

/**
 * Polls until the processor is done with the documents: none in transit, and each one's outcome
 * notification stored (it arrives through the notifications queue after the status changes, so a
 * state read in between would miss rows the backup then holds).
 * @throws Error after 150 s.
 */
async function processed(url: string, ids: string[]): Promise<void> {
  for (let attempt = 0; attempt < 600; attempt++) {
    const pending = await asSystemSession(url, async (c) => {
      const { rows } = await c.query<{ transit: number; announced: number }>(
        `select (select count(*)::int from documents
                  where id = any($1::uuid[]) and status not in ('ready', 'failed', 'quarantined')) as transit,
                (select count(distinct data->>'documentId')::int from notifications
                  where data->>'documentId' = any($1::text[])) as announced`,
        [ids],
      );
      return (rows[0]?.transit ?? 0) + (ids.length - (rows[0]?.announced ?? 0));
    });
    if (pending === 0) return;
    await sleep(250);
  }
  throw new Error("the processor did not finish and announce the uploaded documents within 150 s");
}

async function uploadDocument(
  api: string,
  token: string,
  body: Uint8Array,
  type: string,
  title: string,
): Promise<string> {
  const res = await fetch(`${api}/documents?${new URLSearchParams({ title })}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": type, "content-length": String(body.byteLength) },
    body,
  });
  if (res.status !== 201) throw new Error(`upload of ${title}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

async function searchIds(api: string, token: string, q: string): Promise<string[]> {
  const res = await fetch(`${api}/search?${new URLSearchParams({ q, limit: "50" })}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (res.status !== 200) throw new Error(`search: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { data: { document: { id: string } }[] };
  return body.data.map((r) => r.document.id);
}

/**
 * The platform's tables, objects and guards, once the row counts hold still for a second (a search
 * records its query, a sign-in its audit event, after answering).
 */
async function stateOf(target: BackupTarget, searchIds: string[]): Promise<PlatformState> {
  let state = await databaseState(target);
  for (let attempt = 0; attempt < 30; attempt++) {
    await sleep(1000);
    const again = await databaseState(target);
    if (JSON.stringify(again.rows) === JSON.stringify(state.rows)) break;
    state = again;
  }
  const objects: Record<string, string> = {};
  for (const role of BUCKET_ROLES) {
    for await (const object of listObjects(target.s3, target.buckets[role])) {
      objects[`${role}/${object.key}`] = (await hashObject(target.s3, target.buckets[role], object.key)).sha256;
    }
  }
  return { ...state, objects, searchIds };
}

async function databaseState(target: BackupTarget): Promise<Omit<PlatformState, "objects" | "searchIds">> {
  return asSystemSession(target.databaseUrl, async (c) => {
    const tables = await c.query<{ name: string; forced: boolean }>(
      `select relname as name, relforcerowsecurity as forced from pg_class
       where relnamespace = 'public'::regnamespace and relkind in ('r', 'p') and not relispartition order by relname`,
    );
    const rows: Record<string, number> = {};
    for (const t of tables.rows) {
      const counted = await c.query<{ n: number }>(
        `select count(*)::int as n from public.${pg.escapeIdentifier(t.name)}`,
      );
      rows[t.name] = counted.rows[0]?.n ?? 0;
    }
    const triggers = await c.query<{ name: string }>(
      `select c.relname || '.' || t.tgname as name from pg_trigger t join pg_class c on c.oid = t.tgrelid
       where c.relnamespace = 'public'::regnamespace and not t.tgisinternal and t.tgenabled <> 'D' order by 1`,
    );
    // Counted through each partitioned parent by `tableoid`: a partition read directly shows no
    // rows (forced row-level security without a policy, migration 0038).
    const partitionRows: Record<string, number> = {};
    const parents = await c.query<{ name: string }>(
      `select relname as name from pg_class
       where relnamespace = 'public'::regnamespace and relkind = 'p' order by relname`,
    );
    for (const parent of parents.rows) {
      const counted = await c.query<{ partition: string; n: number }>(
        `select tableoid::regclass::text as partition, count(*)::int as n
         from public.${pg.escapeIdentifier(parent.name)} group by 1`,
      );
      for (const row of counted.rows) partitionRows[row.partition] = row.n;
    }
    return {
      rows,
      partitionRows,
      forcedTables: tables.rows.filter((t) => t.forced).map((t) => t.name),
      enabledTriggers: triggers.rows.map((t) => t.name),
    };
  });
}

/**
 * Runs the drill and returns what it measured; throws only when a step cannot be carried out (the
 * comparison of `before` and `after` is the caller's).
 */
export async function runRestoreDrill(options: DrillOptions): Promise<DrillReport> {
  const log = options.log ?? (() => {});
  options.signal?.throwIfAborted();
  const stopping: (() => Promise<void>)[] = [];
  // Each stop runs once, newest first: as soon as the drill is aborted, and at the end (after the
  // abort's stops have finished, and for anything started since).
  let stopped = Promise.resolve();
  const stopAll = () => {
    stopped = stopped.then(async () => {
      for (const stop of stopping.splice(0).reverse()) await stop().catch(() => {});
    });
    return stopped;
  };
  options.signal?.addEventListener("abort", () => void stopAll(), { once: true });
  const logFile = await open(path.join(options.dir, "wrangler.log"), "a");
  stopping.push(() => logFile.close());
  try {
    // The platform: its own cluster and database, reached by the workers through its own Neon proxy.
    const postgres = await startPostgres({
      dataDir: path.join(options.dir, "postgres"),
      port: await freePort(),
      database: "techcorp",
      password: randomBytes(12).toString("hex"),
      app: { role: "techcorp_app", password: randomBytes(12).toString("hex") },
      logFile: path.join(options.dir, "postgres.log"),
    });
    stopping.push(() => postgres.stop());
    await applyMigrations(postgres.url);
    const proxy = await startNeonProxy({ port: await freePort() });
    stopping.push(() => proxy.close());
    proxy.allow(postgres.port);
    const queryAt = async (url: string, sql: string) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    };
    /** As the cluster's superuser, connected to its maintenance database. */
    const adminQuery = (sql: string) => queryAt(postgres.adminUrl.replace(/\/techcorp$/, "/postgres"), sql);

    const s3 = s3Client(options.stack);
    const prefix = `drill-${randomBytes(4).toString("hex")}`;
    const target: BackupTarget = {
      databaseUrl: postgres.url,
      s3,
      buckets: { documents: `${prefix}-documents`, thumbnails: `${prefix}-thumbnails` },
      backupBucket: `${prefix}-backups`,
    };
    for (const bucket of Object.values(target.buckets)) await s3.send(new CreateBucketCommand({ Bucket: bucket }));

    const env = {
      ...options.stack,
      DATABASE_URL: postgres.url,
      DATABASE_URL_UNPOOLED: postgres.url,
      NEON_LOCAL_PROXY: proxy.address,
      S3_BUCKET: target.buckets.documents,
      S3_THUMBNAILS_BUCKET: target.buckets.thumbnails,
      UPSTASH_REDIS_REST_URL: "",
      UPSTASH_REDIS_REST_TOKEN: "",
    };
    const port = await freePort();
    const inspectorPort = await freePort();
    const persistTo = path.join(options.dir, "wrangler-state");
    await mkdir(persistTo, { recursive: true });
    let worker: WranglerDev | undefined;
    const serve = async () => {
      const started = await startWranglerDev({
        configs: ["wrangler.toml", "workers/processor/wrangler.toml"],
        env,
        envFile: path.join(options.dir, "workers.env"),
        port,
        inspectorPort,
        persistTo,
        output: logFile.fd,
      });
      worker = started;
      await waitUntilServing(`${started.url}/health`, started.process, 120_000);
      return started.url;
    };
    stopping.push(() => worker?.stop() ?? Promise.resolve());
    const api = await serve();
    log(`platform up at ${api}: postgres ${postgres.port}, buckets ${prefix}-*`);

    // Fill it: a corpus in bulk (rows and files), documents through the API (processed: text,
    // index, a thumbnail for the image).
    const seed = 1 + Math.floor(Math.random() * 1_000_000);
    const bulk = await loadBulk({
      seed,
      count: options.bulkDocuments ?? 200,
      databaseUrl: postgres.url,
      putObject: async (key, body, contentType) => {
        await s3.send(
          new PutObjectCommand({ Bucket: target.buckets.documents, Key: key, Body: body, ContentType: contentType }),
        );
      },
    });
    const loaded = await loadThroughApi({
      seed: seed + 1,
      count: options.apiDocuments ?? 6,
      password: CORPUS_PASSWORD,
      concurrency: 2,
      fetch: (p, init) => fetch(`${api}${p}`, init),
      inboxUrl: options.stack.MAIL_INBOX_URL ?? "",
    });
    const [bulkUser] = corpusUsers({ seed, count: options.bulkDocuments ?? 200 });
    const apiUser = loaded.users[0];
    if (!bulkUser || !apiUser) throw new Error("the corpus has no users");
    const signedIn = await tokenFor(api, apiUser.username);
    if (!signedIn.token) throw new Error(`${apiUser.username} cannot sign in: ${signedIn.status}`);
    const token = signedIn.token;
    const image = await uploadDocument(api, token, gradientPng(320, 200), "image/png", "drill gradient");
    await processed(postgres.url, [...loaded.documentIds, image]);
    const thumbnails = await asSystemSession(postgres.url, async (c) => {
      const { rows } = await c.query<{ n: number }>(
        "select count(*)::int as n from document_versions where thumbnail_key is not null",
      );
      return rows[0]?.n ?? 0;
    });
    if (thumbnails === 0) throw new Error("the processor made no thumbnail");
    log(
      `filled: ${bulk.inserted} documents in bulk, ${loaded.documentIds.length + 1} through the API, ${thumbnails} thumbnails`,
    );

    // A query the corpus's first user's documents answer: the first long word of their oldest title.
    const searchQuery = await asSystemSession(postgres.url, async (c) => {
      const { rows } = await c.query<{ title: string }>(
        "select d.title from documents d join users u on u.id = d.owner_id where u.username = $1 order by d.created_at, d.id limit 1",
        [bulkUser.username],
      );
      return (rows[0]?.title ?? "").split(/\W+/).find((w) => w.length > 3) ?? "report";
    });
    const readSearch = async () => {
      const session = await tokenFor(api, bulkUser.username);
      if (!session.token) throw new Error(`${bulkUser.username} cannot sign in: ${session.status}`);
      return searchIds(api, session.token, searchQuery);
    };
    // A search recorded three months ago, in that month's partition (made first, as the sweeper
    // would have): a restore must make that month again rather than load it into the DEFAULT one.
    await asSystemSession(postgres.url, async (c) => {
      await c.query("select create_month_partition('search_queries', now() - interval '3 months')");
      await c.query(
        `insert into search_queries (query, result_count, latency_ms, cache_hit, created_at)
         values ('an older search', 0, 1, false, now() - interval '3 months')`,
      );
    });
    // The search first: the query it records is then part of the state backed up.
    const before = await stateOf(target, await readSearch());

    const backup = await runBackup(target, { log });
    const backupAt = Date.parse(backup.manifest.database.snapshotAt);

    // Work goes on after the backup; the disaster takes it.
    const writesAfterBackup = options.writesAfterBackup ?? 3;
    const lateIds: string[] = [];
    for (let i = 0; i < writesAfterBackup; i++) {
      const body = new TextEncoder().encode(`written after the backup, number ${i}`);
      lateIds.push(await uploadDocument(api, token, body, "text/plain", `after backup ${i}`));
    }
    await processed(postgres.url, lateIds);

    // The disaster: the database dropped, the buckets gone, the workers gone.
    await worker?.stop();
    worker = undefined;
    await adminQuery("drop database techcorp with (force)");
    for (const bucket of Object.values(target.buckets)) {
      const keys: { Key: string }[] = [];
      for await (const object of listObjects(s3, bucket)) keys.push({ Key: object.key });
      for (let i = 0; i < keys.length; i += 1000)
        await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000) } }));
      await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    }
    const destroyedAt = Date.now();
    log("destroyed: database dropped, buckets deleted, workers stopped");

    // Recovery: an empty database, the restore, the workers started again on the same configuration.
    const rtoSteps: StepTimes = {};
    const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      try {
        return await work();
      } finally {
        rtoSteps[name] = Math.round(performance.now() - started);
      }
    };
    await step("empty database", () => adminQuery('create database techcorp owner "techcorp_app"'));
    const restore = await step("restore", () => runRestore(target, { log, createBuckets: true }));
    await step("workers serving", serve);
    const rto = { totalMs: Date.now() - destroyedAt, steps: { ...rtoSteps } };

    // Counted before anything is asked of the restored platform, which records searches and sign-ins.
    const after = await stateOf(target, []);
    after.searchIds = await readSearch();
    const signIns = [];
    for (const username of [bulkUser.username, apiUser.username]) {
      signIns.push({ username, status: (await tokenFor(api, username)).status });
    }
    const lost = await asSystemSession(postgres.url, async (c) => {
      const { rows } = await c.query<{ n: number }>(
        "select count(*)::int as n from documents where id = any($1::uuid[])",
        [lateIds],
      );
      return writesAfterBackup - (rows[0]?.n ?? 0);
    });
    const refusal = (target: BackupTarget, createBuckets = false) =>
      runRestore(target, { createBuckets }).then(
        () => "restored",
        (error: unknown) => (error instanceof RestoreRefused ? error.message : String(error)),
      );
    const database = await refusal(target);
    await adminQuery('create database techcorp_empty owner "techcorp_app"');
    const emptyDatabase = postgres.url.replace(/\/techcorp$/, "/techcorp_empty");
    const buckets = await refusal({ ...target, databaseUrl: emptyDatabase });
    const missingBucket = await refusal({
      ...target,
      databaseUrl: emptyDatabase,
      buckets: { ...target.buckets, documents: `${prefix}-never-made` },
    });
    // Refused before anything is written, even with --create-buckets: missing buckets stay missing.
    const neverMade = { documents: `${prefix}-never-made`, thumbnails: `${prefix}-never-made-either` };
    const superuser = await refusal(
      { ...target, databaseUrl: postgres.adminUrl.replace(/\/techcorp$/, "/techcorp_empty"), buckets: neverMade },
      true,
    );
    await adminQuery("create database techcorp_foreign");
    const privileges = await refusal(
      { ...target, databaseUrl: postgres.url.replace(/\/techcorp$/, "/techcorp_foreign"), buckets: neverMade },
      true,
    );
    const notEmptyWithCreate = await refusal(
      {
        ...target,
        databaseUrl: emptyDatabase,
        buckets: { documents: neverMade.documents, thumbnails: target.buckets.thumbnails },
      },
      true,
    );
    const bucketsMade = await existing(s3, Object.values(neverMade));

    // A failure after the restore started writing: every check passes, the objects are copied into
    // buckets it makes, then a migration fails on a leftover schema; what it wrote is undone.
    await adminQuery('create database techcorp_clash owner "techcorp_app"');
    const clashDatabase = postgres.url.replace(/\/techcorp$/, "/techcorp_clash");
    await queryAt(clashDatabase, "create schema repartition");
    const undoBuckets = { documents: `${prefix}-undo-documents`, thumbnails: `${prefix}-undo-thumbnails` };
    const failed = await runRestore(
      { ...target, databaseUrl: clashDatabase, buckets: undoBuckets },
      { createBuckets: true },
    ).then(
      () => "restored",
      (error: unknown) => (error instanceof RestoreFailed ? error.message : `not a RestoreFailed: ${String(error)}`),
    );
    const failedRestore = { message: failed, bucketsLeft: await existing(s3, Object.values(undoBuckets)) };
    return {
      refusals: { database, buckets, missingBucket, superuser, privileges, notEmptyWithCreate, bucketsMade },
      failedRestore,
      before,
      after,
      backup,
      restore,
      rpo: { writesAfterBackup, writesLost: lost, windowMs: destroyedAt - backupAt },
      rto,
      signIns,
      searchQuery,
    };
  } finally {
    await stopAll();
  }
}

/**
 * What the restored platform does not have as backed up, one line per difference (table rows,
 * partitions, objects, row-level security, triggers, search, sign-in); empty when it matches.
 */
export function driftOf(report: DrillReport): string[] {
  const lines: string[] = [];
  const counts = (what: string, before: Record<string, number>, after: Record<string, number>) => {
    for (const name of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
      if (before[name] !== after[name])
        lines.push(`${what} ${name}: ${before[name] ?? "none"} before, ${after[name] ?? "none"} after`);
    }
  };
  counts("rows of", report.before.rows, report.after.rows);
  counts("rows of partition", report.before.partitionRows, report.after.partitionRows);
  const objects = (state: PlatformState) =>
    new Set(Object.entries(state.objects).map(([key, hash]) => `${key} ${hash}`));
  const [before, after] = [objects(report.before), objects(report.after)];
  const missing = [...before].filter((object) => !after.has(object));
  const extra = [...after].filter((object) => !before.has(object));
  if (missing.length > 0) lines.push(`${missing.length} objects missing or changed, e.g. ${missing[0]}`);
  if (extra.length > 0) lines.push(`${extra.length} objects not in the backup, e.g. ${extra[0]}`);
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(report.before.forcedTables, report.after.forcedTables))
    lines.push("tables with forced row-level security differ");
  if (!same(report.before.enabledTriggers, report.after.enabledTriggers)) lines.push("enabled triggers differ");
  if (!same(report.before.searchIds, report.after.searchIds)) {
    lines.push(
      `search "${report.searchQuery}" answers ${report.after.searchIds.length} documents, ${report.before.searchIds.length} before`,
    );
  }
  for (const { username, status } of report.signIns)
    if (status !== 200) lines.push(`${username} cannot sign in: ${status}`);
  return lines;
}

/** The drill's figures as lines for a log. */
export function describeDrill(report: DrillReport): string[] {
  const rows = Object.values(report.after.rows).reduce((n, r) => n + r, 0);
  const ms = (steps: StepTimes) =>
    Object.entries(steps)
      .map(([name, t]) => `${name} ${t} ms`)
      .join(", ");
  return [
    `backup ${report.backup.manifest.id}: ${report.backup.manifest.database.tables.length} tables, ${report.backup.manifest.objects.count} objects (${report.backup.manifest.objects.bytes} bytes); ${ms(report.backup.steps)}`,
    `restored: ${Object.keys(report.after.rows).length} tables, ${rows} rows, ${Object.keys(report.after.objects).length} objects verified by SHA-256; ${ms(report.restore.steps)}`,
    `RPO: ${report.rpo.writesLost} of ${report.rpo.writesAfterBackup} writes made after the backup lost (${report.rpo.windowMs} ms from the backup's snapshot to the disaster)`,
    `RTO: ${report.rto.totalMs} ms from destroyed to serving (${ms(report.rto.steps)})`,
    `search "${report.searchQuery}": ${report.before.searchIds.length} results before, ${report.after.searchIds.length} after; sign-in: ${report.signIns.map((s) => `${s.username} ${s.status}`).join(", ")}`,
  ];
}
