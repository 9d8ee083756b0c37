// `npm run backup` and `npm run restore`, as functions the scripts and the restore drill call.
import { once } from "node:events";
import { createInterface } from "node:readline";
import { PassThrough, type Readable } from "node:stream";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  PutObjectCommand,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { type BackupTarget, errorLine } from "./config.ts";
import {
  assertDatabaseEmpty,
  assertRoleCanRestore,
  assertSchemaBuildable,
  dumpDatabase,
  type LoadedTable,
  RestoreRefused,
  restoreDatabase,
} from "./database.ts";
import {
  BACKUPS_PREFIX,
  BUCKET_ROLES,
  backupId,
  CONTENT_PREFIX,
  contentKey,
  type Manifest,
  manifestKey,
  manifestSchema,
  type ObjectEntry,
  objectEntrySchema,
  objectsKey,
  tableKey,
} from "./manifest.ts";
import { bucketIsEmpty, createCopier, eachLimited, hashObject, listObjects, uploadStream } from "./objects.ts";

export interface RunOptions {
  /** Objects handled at once. */
  concurrency?: number;
  log?: (line: string) => void;
}

/** Milliseconds per step, in the order the steps ran. */
export type StepTimes = Record<string, number>;

async function timed<T>(steps: StepTimes, name: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    steps[name] = Math.round(performance.now() - started);
  }
}

const status = (error: unknown) => (error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined);

async function readBody(target: BackupTarget, key: string): Promise<Readable> {
  const answer = await target.s3.send(new GetObjectCommand({ Bucket: target.backupBucket, Key: key }));
  const body = answer.Body as Readable | undefined;
  if (!body) throw new Error(`s3://${target.backupBucket}/${key} has no body`);
  return body;
}

/** The entries of a backup's objects.ndjson, one line at a time. */
async function* objectEntries(target: BackupTarget, id: string): AsyncGenerator<ObjectEntry> {
  const lines = createInterface({ input: await readBody(target, objectsKey(id)), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) if (line) yield objectEntrySchema.parse(JSON.parse(line));
}

/**
 * The ids of complete backups (those with a manifest), oldest first.
 * @throws RestoreRefused when the backup bucket does not exist.
 */
export async function listBackups(target: Pick<BackupTarget, "s3" | "backupBucket">): Promise<string[]> {
  const ids: string[] = [];
  try {
    for await (const object of listObjects(target.s3, target.backupBucket, BACKUPS_PREFIX)) {
      const match = /^backups\/([^/]+)\/manifest\.json$/.exec(object.key);
      if (match?.[1]) ids.push(match[1]);
    }
  } catch (error) {
    if (isNoSuchBucket(error)) {
      throw new RestoreRefused(
        `the backup bucket "${target.backupBucket}" does not exist: no backup was taken there (S3_BACKUP_BUCKET names another)`,
      );
    }
    throw error;
  }
  return ids.sort();
}

/**
 * A backup's manifest, by id or the newest.
 * @throws RestoreRefused when there is no such backup.
 */
export async function readManifest(target: BackupTarget, id?: string): Promise<Manifest> {
  const chosen = id ?? (await listBackups(target)).at(-1);
  if (!chosen) throw new RestoreRefused(`no backup in s3://${target.backupBucket}/${BACKUPS_PREFIX}`);
  try {
    const body = await readBody(target, manifestKey(chosen));
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return manifestSchema.parse(JSON.parse(Buffer.concat(chunks).toString("utf8")));
  } catch (error) {
    if (status(error) === 404)
      throw new RestoreRefused(`no backup ${chosen} in s3://${target.backupBucket} (no manifest)`);
    throw error;
  }
}

/** Whether an S3 error says the bucket does not exist (ListObjectsV2's NoSuchBucket, HEAD's 404). */
function isNoSuchBucket(error: unknown): boolean {
  return (error as { name?: unknown } | undefined)?.name === "NoSuchBucket";
}

/** The variable that names each of the platform's buckets. */
const BUCKET_VARIABLES = { documents: "S3_BUCKET", thumbnails: "S3_THUMBNAILS_BUCKET" } as const;

/**
 * Fails when the platform's bucket of `role` does not exist, naming it and its variable.
 * @throws Error (one line) when it does not exist; S3 errors otherwise.
 */
async function assertBucketExists(target: BackupTarget, role: keyof BackupTarget["buckets"]): Promise<void> {
  const bucket = target.buckets[role];
  try {
    await bucketIsEmpty(target.s3, bucket);
  } catch (error) {
    if (!isNoSuchBucket(error)) throw error;
    throw new Error(
      `the ${role} bucket "${bucket}" (${BUCKET_VARIABLES[role]}) does not exist: set ${BUCKET_VARIABLES[role]} to the platform's ${role} bucket`,
    );
  }
}

async function ensureBucket(target: BackupTarget, log: (line: string) => void): Promise<void> {
  try {
    await target.s3.send(new HeadBucketCommand({ Bucket: target.backupBucket }));
  } catch (error) {
    if (status(error) !== 404) throw error;
    await target.s3.send(new CreateBucketCommand({ Bucket: target.backupBucket }));
    log(`created bucket ${target.backupBucket}`);
  }
}

export interface BackupReport {
  manifest: Manifest;
  steps: StepTimes;
}

/**
 * Takes a backup: the database dump (scripts/backup/database.ts), then every object of the
 * documents and thumbnails buckets hashed and, unless the backup bucket has its bytes already,
 * copied there by content (`objects/sha256/<hex>`). Objects are listed after the dump's snapshot,
 * so every object a dumped row names is in the backup (objects are written before the rows that
 * name them and removed after); objects written after the snapshot come along unreferenced.
 * An object whose ETag and size an earlier backup recorded is not read again (incremental).
 */
export async function runBackup(
  target: BackupTarget,
  options: RunOptions & { now?: Date } = {},
): Promise<BackupReport> {
  const log = options.log ?? (() => {});
  const started = options.now ?? new Date();
  const id = backupId(started);
  const steps: StepTimes = {};
  for (const role of BUCKET_ROLES) await assertBucketExists(target, role);
  await ensureBucket(target, log);

  const previous = await timed(steps, "previous backup", async () => {
    const known = new Map<string, ObjectEntry>();
    const last = (await listBackups(target)).at(-1);
    if (last) for await (const entry of objectEntries(target, last)) known.set(`${entry.role}\0${entry.key}`, entry);
    const stored = new Set<string>();
    for await (const object of listObjects(target.s3, target.backupBucket, CONTENT_PREFIX))
      stored.add(object.key.slice(CONTENT_PREFIX.length));
    return { known, stored };
  });

  const database = await timed(steps, "database dump", () =>
    dumpDatabase(target.databaseUrl, async (table, dump) => {
      const key = tableKey(id, table);
      await uploadStream(target.s3, { bucket: target.backupBucket, key, contentType: "application/gzip" }, dump);
      return { key };
    }),
  );

  const copier = createCopier(target.s3);
  const counts = { count: 0, bytes: 0, hashed: 0, copied: 0 };
  await timed(steps, "objects", async () => {
    const lines = new PassThrough();
    const uploading = uploadStream(
      target.s3,
      { bucket: target.backupBucket, key: objectsKey(id), contentType: "application/x-ndjson" },
      lines,
    );
    const write = async (entry: ObjectEntry) => {
      if (!lines.write(`${JSON.stringify(entry)}\n`)) await once(lines, "drain");
    };
    const listing = (async function* () {
      for (const role of BUCKET_ROLES) {
        const bucket = target.buckets[role];
        for await (const object of listObjects(target.s3, bucket)) yield { role, bucket, object };
      }
    })();
    try {
      await eachLimited(listing, options.concurrency ?? 8, async ({ role, bucket, object }) => {
        const before = previous.known.get(`${role}\0${object.key}`);
        let entry: ObjectEntry;
        if (
          before &&
          before.etag === object.etag &&
          before.size === object.size &&
          previous.stored.has(before.sha256)
        ) {
          entry = { ...before, bucket };
        } else {
          let read: Awaited<ReturnType<typeof hashObject>>;
          try {
            read = await hashObject(target.s3, bucket, object.key, object.etag);
          } catch (error) {
            // Removed since it was listed: removed after the snapshot too, so no dumped row needs it.
            if (status(error) === 404) return;
            throw error;
          }
          counts.hashed++;
          entry = { role, bucket, key: object.key, size: read.size, sha256: read.sha256, etag: object.etag };
          if (read.contentType) entry.contentType = read.contentType;
          if (read.metadata) entry.metadata = read.metadata;
          if (!previous.stored.has(read.sha256)) {
            previous.stored.add(read.sha256);
            await copier.copy({
              from: { bucket, key: object.key, ifMatch: object.etag },
              to: { bucket: target.backupBucket, key: contentKey(read.sha256) },
              sha256: read.sha256,
            });
            counts.copied++;
          }
        }
        counts.count++;
        counts.bytes += entry.size;
        await write(entry);
      });
    } finally {
      lines.end();
    }
    await uploading;
  });

  const manifest: Manifest = {
    version: 1,
    id,
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    database,
    objects: { key: objectsKey(id), ...counts },
  };
  await target.s3.send(
    new PutObjectCommand({
      Bucket: target.backupBucket,
      Key: manifestKey(id),
      Body: JSON.stringify(manifest, null, 2),
      ContentType: "application/json",
    }),
  );
  log(
    `backup ${id}: ${database.tables.length} tables (${database.tables.reduce((n, t) => n + t.rows, 0)} rows), ${counts.count} objects (${counts.bytes} bytes; ${counts.hashed} read, ${counts.copied} copied ${copier.mode}) to s3://${target.backupBucket}/${BACKUPS_PREFIX}${id}/`,
  );
  return { manifest, steps };
}

export interface RestoreReport {
  manifest: Manifest;
  tables: LoadedTable[];
  objects: { restored: number; verified: number; bytes: number };
  steps: StepTimes;
}

/**
 * Restores a backup (by id, else the newest) into an empty database and empty buckets. First the
 * checks, which write nothing: the backup exists and this checkout can build its schema, the
 * database is empty and its role may build the schema (not a superuser), each bucket is empty or,
 * with `createBuckets`, missing. Then the missing buckets are made, the objects copied back from
 * the backup bucket and each one's SHA-256 checked against the manifest, then the database
 * (scripts/backup/database.ts `restoreDatabase`), whose commit is the moment the platform has its
 * data again. When a step after the checks fails, what it wrote to the buckets is undone (the
 * objects it copied deleted, the buckets it made deleted) before the failure is thrown.
 * @throws RestoreRefused (one line, nothing written) when the database or a bucket is not empty, a
 *   bucket is missing without `createBuckets`, the role cannot build the schema or is a superuser,
 *   or there is no such backup or no schema this checkout can build.
 * @throws RestoreFailed when a step after the checks failed (an object's SHA-256 or size differs
 *   from the manifest's, a table's row count, a migration…): its message says what was undone.
 */
export async function runRestore(
  target: BackupTarget,
  options: RunOptions & {
    id?: string;
    /** Create a documents or thumbnails bucket that does not exist (`--create-buckets`), else refuse. */
    createBuckets?: boolean;
  } = {},
): Promise<RestoreReport> {
  const log = options.log ?? (() => {});
  const steps: StepTimes = {};
  const { manifest, missing } = await timed(steps, "checks", async () => {
    const chosen = await readManifest(target, options.id);
    assertSchemaBuildable(chosen.database.migrations);
    await assertDatabaseEmpty(target.databaseUrl);
    await assertRoleCanRestore(target.databaseUrl);
    const absent: string[] = [];
    for (const role of BUCKET_ROLES) {
      const bucket = target.buckets[role];
      let empty: boolean;
      try {
        empty = await bucketIsEmpty(target.s3, bucket);
      } catch (error) {
        if (!isNoSuchBucket(error)) throw error;
        if (!options.createBuckets) {
          throw new RestoreRefused(
            `bucket "${bucket}" (the ${role} bucket) does not exist: create it, empty, or pass --create-buckets`,
          );
        }
        absent.push(bucket);
        continue;
      }
      if (!empty) throw new RestoreRefused(`bucket "${bucket}" is not empty: restore needs empty buckets`);
    }
    return { manifest: chosen, missing: absent };
  });

  // Every check passed: from here on, a failure undoes what was written to the buckets.
  const created: string[] = [];
  const progress = { schemaStarted: false, committed: false };
  const written = new Map<string, Set<string>>(BUCKET_ROLES.map((role) => [target.buckets[role], new Set<string>()]));
  try {
    for (const bucket of missing) {
      await target.s3.send(new CreateBucketCommand({ Bucket: bucket }));
      created.push(bucket);
      log(`created bucket ${bucket}`);
    }
    return await restoreInto(target, manifest, { written, progress }, options, steps);
  } catch (error) {
    // Committed: the platform has its data; the objects stay, only the newer migrations are left.
    if (progress.committed)
      throw new RestoreFailed(
        error,
        "the backup is restored and committed, but a newer migration failed: apply them again with DATABASE_URL=<the database> npm run db:migrate",
      );
    const undone = await undoWrites(target, written, created);
    const database = progress.schemaStarted
      ? `; the database may keep the schema built before the load: drop it and create it again, empty, before a retry`
      : "";
    throw new RestoreFailed(error, `${undone}${database}`);
  }
}

/** A restore that failed after its checks, with what was undone (`undone`, one clause). */
export class RestoreFailed extends Error {
  override name = "RestoreFailed";
  readonly undone: string;
  constructor(cause: unknown, undone: string) {
    super(`${errorLine(cause)}; ${undone}`, { cause });
    this.undone = undone;
  }
}

/**
 * Deletes the objects a failed restore wrote (`written`, by bucket) and the buckets it made.
 * @returns One clause saying what was undone, or what could not be and must be by hand.
 */
async function undoWrites(target: BackupTarget, written: Map<string, Set<string>>, created: string[]): Promise<string> {
  let deleted = 0;
  const left: string[] = [];
  for (const [bucket, keys] of written) {
    const all = [...keys];
    try {
      for (let i = 0; i < all.length; i += 1000) {
        const batch = all.slice(i, i + 1000);
        const answer = await target.s3.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
        );
        if (answer.Errors?.length) throw new Error(answer.Errors[0]?.Message ?? "DeleteObjects failed");
        deleted += batch.length;
      }
    } catch {
      if (all.length > 0) left.push(`objects in "${bucket}"`);
    }
  }
  const removed: string[] = [];
  for (const bucket of created) {
    try {
      await target.s3.send(new DeleteBucketCommand({ Bucket: bucket }));
      removed.push(bucket);
    } catch {
      left.push(`bucket "${bucket}"`);
    }
  }
  const done = `undone: ${deleted} objects deleted from the target buckets${removed.length > 0 ? `, buckets ${removed.map((b) => `"${b}"`).join(", ")} deleted` : ""}`;
  return left.length > 0 ? `${done}; NOT undone, delete by hand: ${left.join(", ")}` : done;
}

/** The writing part of `runRestore`: objects copied (each key recorded in `written` first), verified, then the database. */
async function restoreInto(
  target: BackupTarget,
  manifest: Manifest,
  {
    written,
    progress,
  }: { written: Map<string, Set<string>>; progress: { schemaStarted: boolean; committed: boolean } },
  options: RunOptions,
  steps: StepTimes,
): Promise<RestoreReport> {
  const log = options.log ?? (() => {});
  const copier = createCopier(target.s3);
  const concurrency = options.concurrency ?? 8;
  const objects = { restored: 0, verified: 0, bytes: 0 };
  await timed(steps, "objects copied", () =>
    eachLimited(objectEntries(target, manifest.id), concurrency, async (entry) => {
      const bucket = target.buckets[entry.role];
      written.get(bucket)?.add(entry.key);
      await copier.copy({
        from: { bucket: target.backupBucket, key: contentKey(entry.sha256) },
        to: {
          bucket,
          key: entry.key,
          ...(entry.contentType ? { contentType: entry.contentType } : {}),
          ...(entry.metadata ? { metadata: entry.metadata } : {}),
        },
        sha256: entry.sha256,
      });
      objects.restored++;
      objects.bytes += entry.size;
    }),
  );
  await timed(steps, "objects verified", () =>
    eachLimited(objectEntries(target, manifest.id), concurrency, async (entry) => {
      const bucket = target.buckets[entry.role];
      const read = await hashObject(target.s3, bucket, entry.key);
      if (read.sha256 !== entry.sha256 || read.size !== entry.size)
        throw new Error(
          `s3://${bucket}/${entry.key}: SHA-256 ${read.sha256} (${read.size} bytes) after restore, the manifest has ${entry.sha256} (${entry.size} bytes)`,
        );
      objects.verified++;
    }),
  );
  if (objects.verified !== manifest.objects.count)
    throw new Error(`${objects.verified} objects restored, the manifest counts ${manifest.objects.count}`);
  progress.schemaStarted = true;
  const tables = await timed(steps, "database", () =>
    restoreDatabase(
      target.databaseUrl,
      manifest.database,
      (key) => readBody(target, key),
      () => {
        progress.committed = true;
      },
    ),
  );
  log(
    `restored ${manifest.id}: ${tables.length} tables (${tables.reduce((n, t) => n + t.rows, 0)} rows), ${objects.verified} objects verified by SHA-256 (${copier.mode})`,
  );
  return { manifest, tables, objects, steps };
}
