import { and, asc, desc, eq, inArray, isNull, lt, ne, or, sql } from "drizzle-orm";
import type { KeysetCursor } from "../../pkg/pagination/cursor.ts";
import type { Queryable, Transaction } from "../actor.ts";
import { expectRows } from "../affected.ts";
import type { HttpQueryBuilder } from "../client.ts";
import { changedAt } from "../schema/columns.ts";
import { type NewUploadPart, type Upload, uploadParts, uploads } from "../schema/uploads.ts";

// Resumable uploads (src/documents/resumable.ts). Functions taking a `Queryable` (or the HTTP
// builder) return the statement unexecuted, for one `batchAsActor` round trip; `async` ones taking
// a `Transaction` run inside `asActor` (the completion's quota transaction, the sweeper). An upload
// is its owner's only: each query a user's request makes states it (`ownerId`), and row-level
// security enforces it again underneath.

/** How long a completion may hold an upload before another request may take it over (ms). */
export const COMPLETION_LEASE_MS = 5 * 60 * 1000;

export type NewUpload = typeof uploads.$inferInsert;

export function insertUpload(db: Queryable, values: NewUpload) {
  return db.insert(uploads).values(values).returning();
}

/**
 * What unfinished uploads hold back: how many there are and their declared bytes (as text: a bigint
 * sum), those of the owner's personal documents (`ownerId`) or those filed in a project
 * (`projectId`, whoever uploads). Counted with the stored documents when a new upload is created,
 * so parts in flight stay within the quotas too.
 */
export function unfinishedUploadsOf(db: Queryable, params: { ownerId: string } | { projectId: string }) {
  return db
    .select({ uploads: sql<string>`count(*)::text`, bytes: sql<string>`coalesce(sum(${uploads.sizeBytes}), 0)::text` })
    .from(uploads)
    .where(
      and(
        "projectId" in params
          ? eq(uploads.projectId, params.projectId)
          : and(eq(uploads.ownerId, params.ownerId), isNull(uploads.projectId)),
        ne(uploads.status, "completed"),
        // An expired upload holds nothing any more (the sweeper aborts it).
        sql`${uploads.expiresAt} > now()`,
      ),
    );
}

const owned = (params: { id: string; ownerId: string }) =>
  and(eq(uploads.id, params.id), eq(uploads.ownerId, params.ownerId));

/** Not past its `expiresAt` (by the database's clock): an expired upload is the sweeper's alone. */
const unexpired = () => sql`${uploads.expiresAt} > now()`;

/** What a completion may take: `open`, or `completing` whose lease (`COMPLETION_LEASE_MS`) ran out (its request died). */
const takeable = () =>
  or(
    eq(uploads.status, "open"),
    and(
      eq(uploads.status, "completing"),
      lt(uploads.updatedAt, sql`now() - make_interval(secs => ${COMPLETION_LEASE_MS / 1000})`),
    ),
  );

/** What the sweeper takes: not completed, past its time before `before`, and no completion within its lease. */
const expiredBefore = (before: Date) => and(lt(uploads.expiresAt, before), takeable());

/**
 * The upload `id` of `ownerId` (one row or none: `firstRow`): a completed one (it answers a repeated
 * completion), or an unfinished one not past its `expiresAt`.
 */
export function uploadById(db: Queryable, params: { id: string; ownerId: string }) {
  return db
    .select()
    .from(uploads)
    .where(and(owned(params), or(eq(uploads.status, "completed"), unexpired())))
    .limit(1);
}

/**
 * A page of the owner's unfinished uploads (open, or completing), not past their `expiresAt`,
 * newest first, keyset-paginated on (created_at, id); one extra row tells if more follow. Each row
 * has the count and bytes of its parts received so far (as text: a bigint sum). `uploadsPage`
 * shapes the rows.
 */
export function selectUnfinishedUploadsPage(
  db: Queryable,
  params: { ownerId: string; limit: number; after?: KeysetCursor | undefined },
) {
  return db
    .select({
      upload: uploads,
      cursorAt: sql<string>`${uploads.createdAt}::text`,
      partsReceived: sql<number>`(select count(*)::int from ${uploadParts} p where p.upload_id = ${uploads.id})`,
      bytesReceived: sql<string>`(select coalesce(sum(p.size_bytes), 0)::text from ${uploadParts} p where p.upload_id = ${uploads.id})`,
    })
    .from(uploads)
    .where(
      and(
        eq(uploads.ownerId, params.ownerId),
        ne(uploads.status, "completed"),
        unexpired(),
        params.after
          ? sql`(${uploads.createdAt}, ${uploads.id}) < (${params.after.createdAt}::timestamptz, ${params.after.id}::uuid)`
          : undefined,
      ),
    )
    .orderBy(desc(uploads.createdAt), desc(uploads.id))
    .limit(params.limit + 1);
}

/** The rows of `selectUnfinishedUploadsPage`, each with its keyset cursor and what was received. */
export function uploadsPage(rows: Awaited<ReturnType<typeof selectUnfinishedUploadsPage>>) {
  return rows.map(({ upload, cursorAt, partsReceived, bytesReceived }) => ({
    upload,
    received: { parts: Number(partsReceived), bytes: Number(bytesReceived) },
    cursor: { createdAt: cursorAt, id: upload.id } satisfies KeysetCursor,
  }));
}

/** The parts recorded for the upload `uploadId` of `ownerId`, by number (rows of `{ part }`). */
export function uploadPartsOf(db: Queryable, params: { uploadId: string; ownerId: string }) {
  return db
    .select({ part: uploadParts })
    .from(uploadParts)
    .innerJoin(uploads, eq(uploads.id, uploadParts.uploadId))
    .where(owned({ id: params.uploadId, ownerId: params.ownerId }))
    .orderBy(asc(uploadParts.partNumber));
}

/** Forgets parts `partNumbers` of the upload (the store holds other bytes under them: they are sent again). */
export function forgetParts(db: Queryable, params: { uploadId: string; partNumbers: number[] }) {
  return db
    .delete(uploadParts)
    .where(and(eq(uploadParts.uploadId, params.uploadId), inArray(uploadParts.partNumber, params.partNumbers)));
}

/**
 * Records a part stored in the multipart upload, replacing an earlier row of the same number (a
 * retried PUT), only while the upload is `open`: returns the part's number, or no row when the
 * upload is gone or no longer open.
 */
export function recordPart(db: HttpQueryBuilder, part: NewUploadPart & { ownerId: string }) {
  return db.execute<{ part_number: number }>(sql`
    insert into ${uploadParts} (upload_id, part_number, size_bytes, etag, sha256, leading_bytes, trailing_bytes)
    select ${part.uploadId}, ${part.partNumber}, ${part.sizeBytes}, ${part.etag}, ${part.sha256},
           ${part.leadingBytes ?? ""}, ${part.trailingBytes ?? ""}
    from ${uploads} u where u.id = ${part.uploadId} and u.owner_id = ${part.ownerId} and u.status = 'open'
      and u.expires_at > now()
    on conflict (upload_id, part_number) do update set
      size_bytes = excluded.size_bytes, etag = excluded.etag, sha256 = excluded.sha256,
      leading_bytes = excluded.leading_bytes, trailing_bytes = excluded.trailing_bytes,
      updated_at = ${changedAt}
    returning part_number`);
}

/**
 * Takes the upload for one completion (`open` → `completing`), or takes over a completion whose
 * lease (`COMPLETION_LEASE_MS`) ran out (its request died). Returns the row, or none when it is
 * gone, past its `expiresAt`, completed, or being completed by another request.
 */
export function beginCompletion(db: Queryable, params: { id: string; ownerId: string }) {
  return db
    .update(uploads)
    .set({ status: "completing", updatedAt: changedAt })
    .where(and(owned(params), unexpired(), takeable()))
    .returning();
}

/**
 * Closes an open upload for its abort, in one statement before the store's multipart upload is
 * aborted: `expiresAt` becomes now, so no part or completion takes it any more, and if the abort or
 * the removal after it fails the sweeper finishes both. Returns the row, or none when it is gone,
 * expired, or being completed.
 */
export function closeForAbort(db: Queryable, params: { id: string; ownerId: string }) {
  return db
    .update(uploads)
    .set({ expiresAt: sql`now()`, updatedAt: changedAt })
    .where(and(owned(params), eq(uploads.status, "open"), unexpired()))
    .returning();
}

/** Gives a failed completion's upload back to its client (`completing` → `open`). */
export function reopenUpload(db: Queryable, params: { id: string; ownerId: string }) {
  return db
    .update(uploads)
    .set({ status: "open", updatedAt: changedAt })
    .where(and(owned(params), eq(uploads.status, "completing")));
}

/** Marks the upload completed, in the transaction that records its document; exactly one row or it throws. */
export async function markCompleted(tx: Transaction, params: { id: string; ownerId: string }): Promise<void> {
  const rows = await tx
    .update(uploads)
    .set({ status: "completed", completedAt: changedAt, updatedAt: changedAt })
    .where(and(owned(params), eq(uploads.status, "completing")))
    .returning({ id: uploads.id });
  expectRows(rows, `completing the upload ${params.id}`);
}

/** Removes an upload closed by `closeForAbort` (its parts go with it); returns the removed row. */
export function removeAbortedUpload(db: Queryable, params: { id: string; ownerId: string }) {
  return db
    .delete(uploads)
    .where(and(owned(params), eq(uploads.status, "open")))
    .returning({ id: uploads.id });
}

/** Removes an upload whatever it was doing short of completed (its parts became a removed object). */
export function removeUnfinishedUpload(db: Queryable, params: { id: string; ownerId: string }) {
  return db
    .delete(uploads)
    .where(and(owned(params), ne(uploads.status, "completed")))
    .returning({ id: uploads.id });
}

/**
 * Uploads not completed whose time ran out before `before` (the sweeper, as the system), oldest
 * first; a completion still within its lease is left alone.
 */
export async function expiredUploads(tx: Transaction, params: { before: Date; limit: number }): Promise<Upload[]> {
  return tx
    .select()
    .from(uploads)
    .where(expiredBefore(params.before))
    .orderBy(asc(uploads.expiresAt))
    .limit(params.limit);
}

/** Completed uploads older than `before`, whose rows only answered repeated completions. */
export async function removeFinishedUploads(tx: Transaction, params: { before: Date }): Promise<number> {
  const rows = await tx
    .delete(uploads)
    .where(and(eq(uploads.status, "completed"), lt(uploads.completedAt, params.before)))
    .returning({ id: uploads.id });
  return rows.length;
}

/**
 * Removes the uploads `ids` with their parts (the sweeper, once their multipart uploads are
 * aborted), each only while `expiredUploads` would still pick it (a row taken meanwhile stays).
 */
export async function removeUploads(tx: Transaction, params: { ids: string[]; before: Date }): Promise<number> {
  if (params.ids.length === 0) return 0;
  const rows = await tx
    .delete(uploads)
    .where(and(inArray(uploads.id, params.ids), expiredBefore(params.before)))
    .returning({ id: uploads.id });
  return rows.length;
}

/**
 * Whether the caller may still file the upload's document in its project (`project_allows` write,
 * migration 0025) and whether that project is archived (null when gone): one row, or none for a
 * personal upload or another's. For a completion, before anything is assembled.
 */
export function projectWritableStatement(params: { id: string; ownerId: string }) {
  return sql`select project_allows(u.project_id, 'write') as writable, project_archived(u.project_id) as archived
               from uploads u where u.id = ${params.id} and u.owner_id = ${params.ownerId} and u.project_id is not null`;
}
