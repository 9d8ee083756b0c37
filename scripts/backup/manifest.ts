// What a backup is, as stored in the backup bucket:
//   backups/<id>/database/<table>.copy.gz   one table, COPY's text format, gzip
//   backups/<id>/objects.ndjson             one line per stored object (`ObjectEntry`)
//   backups/<id>/manifest.json              `Manifest`, written last: a backup without it is incomplete
//   objects/sha256/<hex>                    the objects' bytes, by content, shared by every backup
import { z } from "zod";

export const BACKUPS_PREFIX = "backups/";
export const CONTENT_PREFIX = "objects/sha256/";

/** The bucket roles a backup covers: `S3_BUCKET` and `S3_THUMBNAILS_BUCKET`. */
export const BUCKET_ROLES = ["documents", "thumbnails"] as const;
export type BucketRole = (typeof BUCKET_ROLES)[number];

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

export const tableDumpSchema = z.object({
  /** Table name in the `public` schema. */
  name: z.string(),
  /** The columns dumped, in order (generated columns are left out: Postgres computes them again). */
  columns: z.array(z.string()),
  rows: z.number().int().nonnegative(),
  /** Key of the dump in the backup bucket. */
  key: z.string(),
  /** Size of the stored (compressed) dump in bytes, and its SHA-256. */
  bytes: z.number().int().nonnegative(),
  sha256: sha256Hex,
  /**
   * A table partitioned by month (migration 0038): the UTC months its rows fall in, as ISO
   * instants, so a restore makes those partitions before loading (rows of a month without one
   * would land in the DEFAULT partition and block that month for good).
   */
  months: z.array(z.iso.datetime({ offset: true })).optional(),
});
export type TableDump = z.infer<typeof tableDumpSchema>;

export const manifestSchema = z.object({
  version: z.literal(1),
  id: z.string(),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  database: z.object({
    /** The transaction's start (`now()`), the moment the dump shows. */
    snapshotAt: z.iso.datetime(),
    serverVersion: z.string(),
    /** drizzle's journal (`drizzle.__drizzle_migrations`), oldest first: the schema the rows fit. */
    migrations: z.array(z.object({ hash: z.string(), createdAt: z.string() })),
    tables: z.array(tableDumpSchema),
    /** Sequences of the `public` schema; `lastValue` as text (bigint). */
    sequences: z.array(z.object({ name: z.string(), lastValue: z.string(), isCalled: z.boolean() })),
  }),
  objects: z.object({
    key: z.string(),
    count: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
    /** Objects read and hashed by this backup; the others an earlier backup had with the same ETag and size. */
    hashed: z.number().int().nonnegative(),
    /** Objects whose bytes were copied by this backup; the others' bytes were in the backup bucket already. */
    copied: z.number().int().nonnegative(),
  }),
});
export type Manifest = z.infer<typeof manifestSchema>;

export const objectEntrySchema = z.object({
  role: z.enum(BUCKET_ROLES),
  /** The bucket it was read from (for the record; a restore writes to its own environment's bucket of `role`). */
  bucket: z.string(),
  key: z.string(),
  size: z.number().int().nonnegative(),
  sha256: sha256Hex,
  /** The source's ETag, to recognise it unchanged in the next backup. */
  etag: z.string(),
  contentType: z.string().optional(),
  metadata: z.record(z.string(), z.string()).optional(),
});
export type ObjectEntry = z.infer<typeof objectEntrySchema>;

/** A backup's id: its start as an ISO instant that sorts and fits in a key (`2026-12-03T10-15-30-123Z`). */
export function backupId(at: Date): string {
  return at.toISOString().replace(/[:.]/g, "-");
}

export const manifestKey = (id: string) => `${BACKUPS_PREFIX}${id}/manifest.json`;
export const objectsKey = (id: string) => `${BACKUPS_PREFIX}${id}/objects.ndjson`;
export const tableKey = (id: string, table: string) => `${BACKUPS_PREFIX}${id}/database/${table}.copy.gz`;
export const contentKey = (sha256: string) => `${CONTENT_PREFIX}${sha256}`;
