import { and, arrayOverlaps, asc, desc, eq, gte, inArray, isNotNull, isNull, lt, or, type SQL, sql } from "drizzle-orm";
import type { KeysetCursor } from "../../pkg/pagination/cursor.ts";
import { firstRow, type Queryable, type Transaction } from "../actor.ts";
import { expectRows } from "../affected.ts";
import type { HttpQueryBuilder } from "../client.ts";
import { changedAt } from "../schema/columns.ts";
import {
  type Document,
  type DocumentStatus,
  type DocumentVersion,
  documentContent,
  documentShares,
  documents,
  documentVersions,
  type FailureReason,
  type ScanResult,
  type ShareAccess,
  TRANSIENT_STATUSES,
  uploadIntents,
} from "../schema/documents.ts";
import { notifications } from "../schema/notifications.ts";
import { type ProjectRole, projectMembers, projects } from "../schema/projects.ts";
import { users } from "../schema/users.ts";

// Every query takes the viewer and states the access rule itself; row-level security enforces
// the same rule underneath, so forgetting one of the two still leaks nothing.
//
// Two modes (src/db/client.ts). `async` functions taking a `Transaction` run in the WebSocket
// mode inside `asActor`: locks (`lockDocument`, the usage and share advisory locks), and writes
// decided on what the same transaction read first (preconditions, quotas, version numbers).
// Functions taking a `Queryable` return the statement unexecuted, for either mode: returned from a
// `batchAsActor` build they share one HTTP round trip with the statements beside them (the routes'
// reads, and writes that decide nothing before writing).

/** Who is asking: their id, and whether they may see every document (admins, documents:read). */
export interface Viewer {
  userId: string;
  readsAll: boolean;
}

const sharedWith = (userId: string, access?: ShareAccess) =>
  sql`exists (select 1 from ${documentShares} s where s.document_id = ${documents.id} and s.user_id = ${userId}${
    access ? sql` and s.access = ${access}` : sql``
  })`;

/** The roles that may read, write or manage a project's documents. */
const ROLES_FOR = {
  read: ["owner", "admin", "editor", "viewer"],
  write: ["owner", "admin", "editor"],
  manage: ["owner", "admin"],
} as const satisfies Record<string, readonly ProjectRole[]>;

/**
 * The ids of the live projects where `userId` has a role allowing `need` (writing and managing:
 * not archived), as the `project_allows` of the policies decides it, as an SQL array read once (an
 * index lookup per project, not a subplan per document): for `column = any(…)`. The document
 * queries and the search index's share it.
 */
export function projectIdsOf(userId: string, need: keyof typeof ROLES_FOR): SQL {
  const roles = sql.join(
    ROLES_FOR[need].map((role) => sql`${role}`),
    sql`, `,
  );
  return sql`array(select m.project_id from ${projectMembers} m join ${projects} p on p.id = m.project_id where m.user_id = ${userId} and m.role in (${roles}) and p.deleted_at is null${
    need === "read" ? sql`` : sql` and p.archived_at is null`
  })`;
}

/** Documents of the projects where `userId` may `need` (`projectIdsOf`). */
const inProjectsOf = (userId: string, need: keyof typeof ROLES_FOR): SQL =>
  sql`${documents.projectId} = any(${projectIdsOf(userId, need)})`;

/** Personal documents of `userId` (not filed in a project). */
const personalOf = (userId: string) => and(isNull(documents.projectId), eq(documents.ownerId, userId));

/** Documents the viewer may read: their personal ones, their projects', shared with them, or all for admins. */
export function readableBy(viewer: Viewer): SQL | undefined {
  return viewer.readsAll
    ? undefined
    : or(personalOf(viewer.userId), sharedWith(viewer.userId), inProjectsOf(viewer.userId, "read"));
}

/**
 * Documents the viewer may change: their personal ones, those of their projects where their role
 * writes (editor and up, not archived), shared for writing, or all for admins.
 */
export function writableBy(viewer: Viewer & { writesAll: boolean }): SQL | undefined {
  return viewer.writesAll
    ? undefined
    : or(personalOf(viewer.userId), sharedWith(viewer.userId, "write"), inProjectsOf(viewer.userId, "write"));
}

/**
 * Documents the viewer manages (deletes, moves, shares): their personal ones, those of their
 * projects where they are an owner or admin (not archived), or all for admins.
 */
export function managedBy(viewer: Viewer & { writesAll: boolean }): SQL | undefined {
  return viewer.writesAll ? undefined : or(personalOf(viewer.userId), inProjectsOf(viewer.userId, "manage"));
}

/** Records an upload intent (idempotent). Both modes: an upload batches it with its usage check. */
export function insertUploadIntent(db: Queryable, params: { storageKey: string }) {
  return db.insert(uploadIntents).values({ storageKey: params.storageKey }).onConflictDoNothing();
}

export async function addUploadIntent(tx: Transaction, params: { storageKey: string }): Promise<void> {
  await insertUploadIntent(tx, params);
}

/**
 * Ends an upload intent. The intent must exist and be removable by the actor (the system, an
 * admin, or anyone once a version records the key): otherwise `NoRowsAffectedError`, because an
 * intent left behind makes the sweeper delete the object later.
 */
export async function removeUploadIntent(tx: Transaction, params: { storageKey: string }): Promise<void> {
  const rows = await tx
    .delete(uploadIntents)
    .where(eq(uploadIntents.storageKey, params.storageKey))
    .returning({ key: uploadIntents.storageKey });
  expectRows(rows, `removing the upload intent ${params.storageKey}`);
}

/** Removes upload intents (the sweeper, as the system); returns how many there were. */
export async function removeUploadIntents(tx: Transaction, params: { storageKeys: string[] }): Promise<number> {
  if (params.storageKeys.length === 0) return 0;
  const rows = await tx
    .delete(uploadIntents)
    .where(inArray(uploadIntents.storageKey, params.storageKeys))
    .returning({ key: uploadIntents.storageKey });
  return rows.length;
}

/**
 * Upload intents older than `olderThan`, each with whether a version still records its key (as
 * its object or its thumbnail). A recorded key belongs to a finished upload whose intent was left
 * behind: its object is live and must not be deleted.
 */
export async function staleUploadIntents(
  tx: Transaction,
  params: { olderThan: Date; limit: number },
): Promise<{ key: string; recorded: boolean }[]> {
  return tx
    .select({
      key: uploadIntents.storageKey,
      // Qualified by hand: drizzle renders a column of the selected table unqualified, which
      // inside the subquery would name the version's own column.
      recorded: sql<boolean>`exists (select 1 from ${documentVersions} v where v.storage_key = upload_intents.storage_key or v.thumbnail_key = upload_intents.storage_key)`,
    })
    .from(uploadIntents)
    .where(lt(uploadIntents.createdAt, params.olderThan))
    .limit(params.limit);
}

export interface StoredVersion {
  storageKey: string;
  contentType: string;
  sizeBytes: number;
  sha256: string;
  filename: string | null;
}

/** What a new document records: its id, owner (uploader), project if any, title and tags, and its first version's file. */
export interface NewDocument {
  id: string;
  ownerId: string;
  /** The project it is filed in; absent or null for a personal document. */
  projectId?: string | null | undefined;
  title: string;
  tags: string[];
  file: StoredVersion;
}

/**
 * The two inserts of a new document, unexecuted, for either mode: the document (at version 1) and
 * its first version, each `returning` its row. The version's insert follows the document's in the
 * same transaction (its foreign key needs the document).
 */
export function insertDocumentStatements(db: Queryable, params: NewDocument) {
  const { file } = params;
  return [
    db
      .insert(documents)
      .values({
        id: params.id,
        ownerId: params.ownerId,
        projectId: params.projectId ?? null,
        title: params.title,
        tags: params.tags,
        currentVersion: 1,
        contentType: file.contentType,
        sizeBytes: file.sizeBytes,
        sha256: file.sha256,
      })
      .returning(),
    db
      .insert(documentVersions)
      .values({ documentId: params.id, version: 1, createdBy: params.ownerId, ...file })
      .returning(),
  ] as const;
}

/** A new document with its first version (the upload route ends the upload intent in the same transaction). */
export async function createDocument(
  tx: Transaction,
  params: NewDocument,
): Promise<{ document: Document; version: DocumentVersion }> {
  const [insertDocument, insertVersion] = insertDocumentStatements(tx, params);
  const [document] = await insertDocument;
  const [version] = await insertVersion;
  if (!document || !version) throw new Error("insert returned no row");
  return { document, version };
}

/**
 * Ends an upload intent inside a `batchAsActor` batch (SQL function `end_upload_intent`, migration
 * 0021): the `removeUploadIntent` of the HTTP mode. A missing intent (or one row-level security
 * hides from the actor) fails the statement with SQLSTATE P0002 (no_data_found), rolling the whole
 * batch back, where `removeUploadIntent` throws `NoRowsAffectedError`.
 */
export function endUploadIntent(db: HttpQueryBuilder, params: { storageKey: string }) {
  return db.execute(sql`select end_upload_intent(${params.storageKey})`);
}

/** What a restored version takes over from the processed version it restores. */
export interface ProcessedState {
  scanResult: ScanResult;
  thumbnailKey: string | null;
  processedAt: Date | null;
}

/**
 * The next version of a document becomes its current one: pending processing, or with `processed`
 * (a restore of a version already processed: same object, same results) ready at once. The version
 * number comes from updating the document row, which serialises concurrent uploads.
 */
export async function addVersion(
  tx: Transaction,
  params: {
    documentId: string;
    createdBy: string;
    file: StoredVersion;
    restoredFrom?: number;
    processed?: ProcessedState | undefined;
  },
): Promise<{ document: Document; version: DocumentVersion } | undefined> {
  const { file, processed } = params;
  const state = processed
    ? { status: "ready" as const, scanResult: processed.scanResult, processedAt: processed.processedAt }
    : { status: "pending" as const, scanResult: null, processedAt: null };
  const [document] = await tx
    .update(documents)
    .set({
      currentVersion: sql`${documents.currentVersion} + 1`,
      contentType: file.contentType,
      sizeBytes: file.sizeBytes,
      sha256: file.sha256,
      ...state,
      failureReason: null,
      updatedAt: changedAt,
    })
    .where(and(eq(documents.id, params.documentId), isNull(documents.deletedAt)))
    .returning();
  if (!document) return undefined;
  const [version] = await tx
    .insert(documentVersions)
    .values({
      documentId: params.documentId,
      version: document.currentVersion,
      createdBy: params.createdBy,
      restoredFrom: params.restoredFrom ?? null,
      ...file,
      ...state,
      thumbnailKey: processed?.thumbnailKey ?? null,
    })
    .returning();
  if (!version) throw new Error("insert returned no row");
  return { document, version };
}

/** The document if the viewer may read it and it is not deleted (zero or one row). Both modes. */
export const selectReadableDocument = (db: Queryable, params: { id: string; viewer: Viewer }) =>
  db
    .select()
    .from(documents)
    .where(and(eq(documents.id, params.id), isNull(documents.deletedAt), readableBy(params.viewer)))
    .limit(1);

export async function getDocument(
  tx: Transaction,
  params: { id: string; viewer: Viewer },
): Promise<Document | undefined> {
  return firstRow(await selectReadableDocument(tx, params));
}

/**
 * The document as `getDocument` reads it, with its row locked (`for update`) until the transaction
 * ends, so that a conditional write can evaluate its preconditions on it and write in the same
 * transaction without a concurrent change falling in between. Row-level security applies the
 * update policy to a locking read: a viewer who may only read gets undefined.
 */
export async function lockDocument(
  tx: Transaction,
  params: { id: string; viewer: Viewer },
): Promise<Document | undefined> {
  return firstRow(await selectReadableDocument(tx, params).for("update"));
}

/** The document as the system sees it (the processor), deleted or not. */
export async function getDocumentForProcessing(tx: Transaction, params: { id: string }): Promise<Document | undefined> {
  const [row] = await tx.select().from(documents).where(eq(documents.id, params.id)).limit(1);
  return row;
}

/**
 * The documents with these ids as the system sees them (deleted or not), for the processor's load
 * of a whole queue batch. Both modes; one statement.
 */
export function selectDocumentsForProcessing(db: Queryable, params: { ids: readonly string[] }) {
  return db
    .select()
    .from(documents)
    .where(inArray(documents.id, [...params.ids]));
}

/** The versions named by (document id, version number) pairs, in one statement. Both modes. */
export function selectVersionsByKey(
  db: Queryable,
  params: { keys: readonly { documentId: string; version: number }[] },
) {
  return db.select().from(documentVersions).where(versionKeyIn(params.keys));
}

/**
 * What gives the viewer rights on the document besides owning it: their share of it, their role in
 * its project and whether that project is archived (one row, its members null when absent), for
 * `accessFrom`. Both modes.
 */
export function selectShareAccess(db: Queryable, params: { documentId: string; userId: string }) {
  return db
    .select({
      access: sql<ShareAccess | null>`(select s.access from ${documentShares} s where s.document_id = ${params.documentId} and s.user_id = ${params.userId})`,
      projectRole: sql<ProjectRole | null>`(select m.role from ${documents} d join ${projectMembers} m on m.project_id = d.project_id and m.user_id = ${params.userId} where d.id = ${params.documentId})`,
      // project_archived (migration 0025) reads the project as the system: a share holder who is
      // not a member cannot read it, and their write share ends while it is archived.
      projectArchived: sql<
        boolean | null
      >`(select project_archived(d.project_id) from ${documents} d where d.id = ${params.documentId})`,
    })
    .from(sql`(select 1) as one`);
}

/** What `selectShareAccess` read: a share, a project role, whether the project is archived. */
export type AccessFacts = Awaited<ReturnType<typeof selectShareAccess>>[number];

/**
 * What a viewer may do with a document they can read: `manage` (delete, move, share: the owner of
 * a personal document, an owner or admin of its project, an administrator), `write` (edit and
 * version: a write share, a project editor), or `read`. In an archived project every member and
 * share holder only reads (administrators excepted).
 */
export function accessFrom(
  document: Document,
  viewer: Viewer & { writesAll: boolean },
  facts: Partial<AccessFacts> | undefined,
): "manage" | "write" | "read" {
  if (viewer.writesAll) return "manage";
  if (document.projectId === null) {
    if (document.ownerId === viewer.userId) return "manage";
    return facts?.access === "write" ? "write" : "read";
  }
  if (facts?.projectArchived) return "read";
  const role = facts?.projectRole;
  if (role === "owner" || role === "admin") return "manage";
  return role === "editor" || facts?.access === "write" ? "write" : "read";
}

export interface ListDocumentsParams {
  viewer: Viewer;
  limit: number;
  tag?: string | undefined;
  contentType?: string | undefined;
  status?: DocumentStatus | undefined;
  ownerId?: string | undefined;
  /** A project's documents only; null: personal documents only. */
  projectId?: string | null | undefined;
  createdFrom?: Date | undefined;
  createdTo?: Date | undefined;
  after?: KeysetCursor | undefined;
}

/**
 * Newest first, keyset-paginated on (created_at, id); one extra row tells if more follow. Both
 * modes; `documentsPage` shapes the rows.
 */
export function selectDocumentsPage(db: Queryable, params: ListDocumentsParams) {
  return db
    .select({ document: documents, cursorAt: sql<string>`${documents.createdAt}::text` })
    .from(documents)
    .where(
      and(
        isNull(documents.deletedAt),
        readableBy(params.viewer),
        params.tag ? arrayOverlaps(documents.tags, [params.tag]) : undefined,
        params.contentType ? eq(documents.contentType, params.contentType) : undefined,
        params.status ? eq(documents.status, params.status) : undefined,
        params.ownerId ? eq(documents.ownerId, params.ownerId) : undefined,
        params.projectId === undefined
          ? undefined
          : params.projectId === null
            ? isNull(documents.projectId)
            : eq(documents.projectId, params.projectId),
        params.createdFrom ? gte(documents.createdAt, params.createdFrom) : undefined,
        params.createdTo ? lt(documents.createdAt, params.createdTo) : undefined,
        params.after
          ? sql`(${documents.createdAt}, ${documents.id}) < (${params.after.createdAt}::timestamptz, ${params.after.id}::uuid)`
          : undefined,
      ),
    )
    .orderBy(desc(documents.createdAt), desc(documents.id))
    .limit(params.limit + 1);
}

/** The rows of `selectDocumentsPage`, each with its keyset cursor. */
export function documentsPage(
  rows: Awaited<ReturnType<typeof selectDocumentsPage>>,
): (Document & { cursor: KeysetCursor })[] {
  return rows.map(({ document, cursorAt }) => ({ ...document, cursor: { createdAt: cursorAt, id: document.id } }));
}

export async function listDocuments(
  tx: Transaction,
  params: ListDocumentsParams,
): Promise<(Document & { cursor: KeysetCursor })[]> {
  return documentsPage(await selectDocumentsPage(tx, params));
}

export interface DocumentChanges {
  id: string;
  viewer: Viewer & { writesAll: boolean };
  title?: string | undefined;
  tags?: string[] | undefined;
}

/**
 * Changes the document's title and tags if the viewer may write it, returning the row as changed
 * (none otherwise). The access rule is in the statement itself, so it decides nothing before
 * writing: both modes (PATCH without preconditions batches it).
 */
export function recordDocumentChanges(db: Queryable, params: DocumentChanges) {
  return db
    .update(documents)
    .set({
      ...(params.title !== undefined ? { title: params.title } : {}),
      ...(params.tags !== undefined ? { tags: params.tags } : {}),
      updatedAt: changedAt,
    })
    .where(and(eq(documents.id, params.id), isNull(documents.deletedAt), writableBy(params.viewer)))
    .returning();
}

export async function updateDocument(tx: Transaction, params: DocumentChanges): Promise<Document | undefined> {
  return firstRow(await recordDocumentChanges(tx, params));
}

/**
 * Marks the document deleted if the viewer manages it; returns whether it did. Its objects and
 * thumbnails stay until the sweeper purges the row (`deletedBefore`), so that it can be restored
 * (`undeleteDocumentStatement`) within the grace.
 */
export async function softDeleteDocument(
  tx: Transaction,
  params: { id: string; viewer: Viewer & { writesAll: boolean } },
): Promise<boolean> {
  const rows = await tx
    .update(documents)
    .set({ deletedAt: sql`now()`, updatedAt: changedAt })
    .where(and(eq(documents.id, params.id), isNull(documents.deletedAt), managedBy(params.viewer)))
    .returning({ id: documents.id });
  return rows.length > 0;
}

/**
 * Whether a deleted document is still within its grace (`graceMs` after `deleted_at`), by the
 * database's clock at the moment the row is read (`clock_timestamp()`, not the transaction's
 * start): a restore decided on it never races the sweeper's purge (`deletedBefore` takes only rows
 * already past it, and locks them).
 */
const withinGrace = (graceMs: number) =>
  sql`${documents.deletedAt} > clock_timestamp() - ${graceMs} * interval '1 millisecond'`;

/** The project of the document is live and not archived, or it has none: where a restore may bring it back. */
const restorablePlace = sql`(${documents.projectId} is null or project_archived(${documents.projectId}) = false)`;

/**
 * The document if the viewer may read it, deleted or not (zero or one row), with `restorable`:
 * deleted and still within the grace (`withinGrace`). For POST /documents/{id}/restore's checks,
 * which tell "not deleted" (409) from "gone" (404). Both modes.
 */
export function selectDocumentInAnyState(db: Queryable, params: { id: string; viewer: Viewer; graceMs: number }) {
  return db
    .select({
      document: documents,
      restorable: sql<boolean>`(${documents.deletedAt} is not null and ${withinGrace(params.graceMs)})`,
    })
    .from(documents)
    .where(and(eq(documents.id, params.id), readableBy(params.viewer)))
    .limit(1);
}

/**
 * Brings a deleted document back (POST /documents/{id}/restore) if the viewer manages it, it is
 * still within the grace and its project (if any) is live and not archived; returns the row as
 * restored (none otherwise). The trigger documents_guard checks again that the actor manages it,
 * and documents_activity records `document.undeleted` for a project's document (migration 0037).
 */
export function undeleteDocumentStatement(
  db: Queryable,
  params: { id: string; viewer: Viewer & { writesAll: boolean }; graceMs: number },
) {
  return db
    .update(documents)
    .set({ deletedAt: null, updatedAt: changedAt })
    .where(
      and(
        eq(documents.id, params.id),
        isNotNull(documents.deletedAt),
        withinGrace(params.graceMs),
        managedBy(params.viewer),
        restorablePlace,
      ),
    )
    .returning();
}

/** A keyset position in the trash: (deleted_at desc, id desc), the time as Postgres prints it. */
export interface TrashCursor {
  deletedAt: string;
  id: string;
}

/**
 * The viewer's trash (GET /documents/trash): deleted documents they could restore (they manage
 * them, still within the grace, in no archived or deleted project), most recently deleted first,
 * keyset-paginated on (deleted_at, id); one extra row tells if more follow. Both modes.
 */
export function selectTrashPage(
  db: Queryable,
  params: {
    viewer: Viewer & { writesAll: boolean };
    graceMs: number;
    limit: number;
    after?: TrashCursor | undefined;
  },
) {
  return db
    .select({ document: documents, cursorAt: sql<string>`${documents.deletedAt}::text` })
    .from(documents)
    .where(
      and(
        isNotNull(documents.deletedAt),
        withinGrace(params.graceMs),
        managedBy(params.viewer),
        restorablePlace,
        params.after
          ? sql`(${documents.deletedAt}, ${documents.id}) < (${params.after.deletedAt}::timestamptz, ${params.after.id}::uuid)`
          : undefined,
      ),
    )
    .orderBy(desc(documents.deletedAt), desc(documents.id))
    .limit(params.limit + 1);
}

/** Formats an image version is converted to on request; each rendition is stored once. */
export const RENDITION_FORMATS = ["webp", "png"] as const;
export type RenditionFormat = (typeof RENDITION_FORMATS)[number];

/**
 * Where the rendition of an image in `format` is kept, in the thumbnails bucket: named by the
 * content's SHA-256, so versions with the same bytes (a restore) share it.
 */
export function renditionKey(documentId: string, sha256: string, format: RenditionFormat): string {
  return `documents/${documentId}/renditions/${sha256}.${format}`;
}

/**
 * The objects of a document: every version's content, and in the thumbnails bucket every
 * thumbnail and every rendition an image version may have (whether made or not: deleting a key
 * that is not there is no error).
 */
export async function objectsOf(
  tx: Transaction,
  documentId: string,
): Promise<{ objects: string[]; thumbnails: string[] }> {
  const versions = await tx
    .select({
      key: documentVersions.storageKey,
      thumbnail: documentVersions.thumbnailKey,
      contentType: documentVersions.contentType,
      sha256: documentVersions.sha256,
    })
    .from(documentVersions)
    .where(eq(documentVersions.documentId, documentId));
  const renditions = versions.flatMap((v) =>
    v.contentType.startsWith("image/")
      ? RENDITION_FORMATS.map((format) => renditionKey(documentId, v.sha256, format))
      : [],
  );
  return {
    objects: versions.map((v) => v.key),
    thumbnails: [...new Set([...versions.flatMap((v) => (v.thumbnail ? [v.thumbnail] : [])), ...renditions])],
  };
}

/**
 * Deleted documents whose grace has passed, for the sweeper to remove for good: deleted before
 * `before` (the sweeper's clock) and `graceMs` before the database's `now()`, which a restore's
 * `withinGrace` (read later, by `clock_timestamp()`) refuses from then on; each row locked
 * (`skip locked`: one a restore holds is left to the next run) so a restore committing meanwhile is
 * seen, and its row re-checked, rather than purged.
 */
export async function deletedBefore(
  tx: Transaction,
  params: { before: Date; graceMs: number; limit: number },
): Promise<string[]> {
  const rows = await tx
    .select({ id: documents.id })
    .from(documents)
    .where(
      and(
        isNotNull(documents.deletedAt),
        lt(documents.deletedAt, params.before),
        sql`${documents.deletedAt} <= now() - ${params.graceMs} * interval '1 millisecond'`,
      ),
    )
    .limit(params.limit)
    .for("update", { skipLocked: true });
  return rows.map((row) => row.id);
}

/**
 * Removes a document for good with everything derived from it: versions, text, shares, its search
 * index row and clicks (foreign keys cascade), the notifications about it (with their webhook
 * deliveries), and the words and tags it brought into `search_vocabulary` that no other document
 * still has. A word counts as still present when another document's index matches it unstemmed
 * (titles) or English-stemmed (text): a word whose stem only another document has stays, which
 * reveals nothing of this one. As the system (the sweeper); `NoRowsAffectedError` if the
 * document is not there.
 */
export async function purgeDocument(tx: Transaction, params: { id: string }): Promise<void> {
  const id = params.id;
  await tx.execute(sql`
    with terms as (
      select distinct t.lexeme as term, 'word' as kind
        from documents d
        left join document_content c on c.document_id = d.id
        cross join lateral unnest(to_tsvector('simple'::regconfig, d.title || ' ' || coalesce(c.text, ''))) as t
       where d.id = ${id}
      union
      select distinct lower(tag), 'tag' from documents d, unnest(d.tags) as tag where d.id = ${id}
    )
    delete from search_vocabulary v
     using terms
     where v.kind = terms.kind and v.term = terms.term
       and not exists (
         select 1 from document_search s
          where s.document_id <> ${id}
            and case when v.kind = 'tag' then s.tags @> array[v.term]::text[]
                     else s.vector @@ plainto_tsquery('simple'::regconfig, v.term)
                       or s.vector @@ plainto_tsquery('english'::regconfig, v.term) end)`);
  await tx.delete(notifications).where(sql`${notifications.data} ->> 'documentId' = ${id}`);
  const rows = await tx.delete(documents).where(eq(documents.id, id)).returning({ id: documents.id });
  expectRows(rows, `purging document ${id}`);
}

/** The document's versions, newest first. Both modes. */
export function selectVersions(db: Queryable, params: { documentId: string }) {
  return db
    .select()
    .from(documentVersions)
    .where(eq(documentVersions.documentId, params.documentId))
    .orderBy(desc(documentVersions.version));
}

export async function listVersions(tx: Transaction, params: { documentId: string }): Promise<DocumentVersion[]> {
  return selectVersions(tx, params);
}

/**
 * One version of the document (zero or one row): `version`, or without it the document's current
 * version, read in the same statement so that a download batches it with the document's own read.
 * Both modes.
 */
export function selectVersion(db: Queryable, params: { documentId: string; version?: number | undefined }) {
  const number =
    params.version ??
    sql<number>`(select ${documents.currentVersion} from ${documents} where ${documents.id} = ${params.documentId})`;
  return db
    .select()
    .from(documentVersions)
    .where(and(eq(documentVersions.documentId, params.documentId), eq(documentVersions.version, number)))
    .limit(1);
}

export async function getVersion(
  tx: Transaction,
  params: { documentId: string; version: number },
): Promise<DocumentVersion | undefined> {
  return firstRow(await selectVersion(tx, params));
}

export interface VersionChange {
  documentId: string;
  version: number;
  /** The transition applies only from one of these statuses: a redelivered message changes nothing. */
  from: readonly DocumentStatus[];
  to: DocumentStatus;
  /** The stable code users see; with it, `failureDetail` for operators. */
  failureReason?: FailureReason | null;
  failureDetail?: string | null;
  scanResult?: ScanResult;
  thumbnailKey?: string | null;
}

/**
 * Moves a version to another status, and the document with it when that version is its current
 * one. Returns the version when the transition applied. The document's row is locked first, as on
 * every path that changes a document and its versions (uploads, conditional writes, the search
 * index triggers): taking the version's row first deadlocked against a reprocess holding the
 * document's.
 */
export async function transitionVersion(tx: Transaction, change: VersionChange): Promise<DocumentVersion | undefined> {
  await tx.select({ id: documents.id }).from(documents).where(eq(documents.id, change.documentId)).for("no key update");
  const finished = change.to === "ready" ? { processedAt: sql`now()` } : {};
  const [version] = await tx
    .update(documentVersions)
    .set({
      status: change.to,
      failureReason: change.failureReason ?? null,
      failureDetail: change.failureDetail ?? null,
      extractionStarts: 0,
      ...(change.scanResult ? { scanResult: change.scanResult } : {}),
      ...(change.thumbnailKey !== undefined ? { thumbnailKey: change.thumbnailKey } : {}),
      ...finished,
      updatedAt: sql`now()`,
    })
    .where(
      and(
        eq(documentVersions.documentId, change.documentId),
        eq(documentVersions.version, change.version),
        inArray(documentVersions.status, [...change.from]),
      ),
    )
    .returning();
  if (!version) return undefined;
  await tx
    .update(documents)
    .set({
      status: version.status,
      failureReason: version.failureReason,
      scanResult: version.scanResult,
      processedAt: version.processedAt,
      updatedAt: changedAt,
    })
    .where(and(eq(documents.id, change.documentId), eq(documents.currentVersion, change.version)));
  return version;
}

/** A `VersionChange` of `transitionVersions`, with the text to store when the transition applies. */
export interface VersionChangeWithContent extends VersionChange {
  content?: { text: string; truncated: boolean };
}

/** `(document_id, version) in (...)` for these keys; `false` for none. */
function versionKeyIn(keys: readonly { documentId: string; version: number }[]): SQL {
  if (keys.length === 0) return sql`false`;
  const pairs = keys.map((key) => sql`(${key.documentId}::uuid, ${key.version}::int)`);
  return sql`(${documentVersions.documentId}, ${documentVersions.version}) in (${sql.join(pairs, sql`, `)})`;
}

/**
 * `transitionVersion` for many versions at once, as statements for one `batchAsActor` batch (one
 * HTTP round trip, one transaction), in this order:
 *   1. the documents' rows locked (`for no key update`, in id order: the lock order of every path
 *      that changes a document and its versions, see `transitionVersion`);
 *   2. ONE statement for every change: each version moved if its status is one of the change's
 *      `from`, its document mirroring it when it is the current version, and its `content` stored
 *      in `document_content` only if it moved; rows `{ document_id, version }` of the versions that moved.
 * Read the versions afterwards in the same batch (`selectVersionsByKey`) to have them whole.
 */
export function transitionVersionsStatements(db: HttpQueryBuilder, changes: readonly VersionChangeWithContent[]) {
  const ids = [...new Set(changes.map((change) => change.documentId))];
  const lock = db
    .select({ id: documents.id })
    .from(documents)
    .where(ids.length > 0 ? inArray(documents.id, ids) : sql`false`)
    .orderBy(documents.id)
    .for("no key update");
  if (changes.length === 0) {
    return [
      lock,
      db.execute<MovedKey>(sql`select null::uuid as document_id, null::int as version where false`),
    ] as const;
  }
  const rows = changes.map(
    (change) => sql`(
      ${change.documentId}::uuid, ${change.version}::int, string_to_array(${change.from.join(",")}, ','), ${change.to}::text,
      ${change.failureReason ?? null}::text, ${change.failureDetail ?? null}::text, ${change.scanResult ?? null}::text,
      ${change.thumbnailKey !== undefined}::boolean, ${change.thumbnailKey ?? null}::text,
      ${change.content?.text ?? null}::text, ${change.content?.truncated ?? null}::boolean)`,
  );
  const update = db.execute<MovedKey>(sql`
    with changes (document_id, version, from_statuses, to_status, failure_reason, failure_detail, scan_result,
                  sets_thumbnail, thumbnail_key, text, truncated) as (values ${sql.join(rows, sql`, `)}),
    moved as (
      update ${documentVersions} v
         set status = c.to_status,
             failure_reason = c.failure_reason,
             failure_detail = c.failure_detail,
             extraction_starts = 0,
             scan_result = coalesce(c.scan_result, v.scan_result),
             thumbnail_key = case when c.sets_thumbnail then c.thumbnail_key else v.thumbnail_key end,
             processed_at = case when c.to_status = 'ready' then now() else v.processed_at end,
             updated_at = now()
        from changes c
       where v.document_id = c.document_id and v.version = c.version and v.status = any(c.from_statuses)
         -- A document deleted meanwhile is processed no further: nothing ends, nobody is told.
         and not exists (select 1 from ${documents} gone where gone.id = v.document_id and gone.deleted_at is not null)
      returning v.document_id, v.version, v.status, v.failure_reason, v.scan_result, v.processed_at
    ),
    mirrored as (
      update ${documents} d
         set status = m.status, failure_reason = m.failure_reason, scan_result = m.scan_result,
             processed_at = m.processed_at, updated_at = ${changedAt}
        from moved m
       where d.id = m.document_id and d.current_version = m.version
    ),
    stored as (
      insert into ${documentContent} (document_id, version, text, truncated)
      select c.document_id, c.version, c.text, c.truncated
        from moved m join changes c on c.document_id = m.document_id and c.version = m.version
       where c.text is not null
      on conflict (document_id, version)
      do update set text = excluded.text, truncated = excluded.truncated, extracted_at = now()
    )
    select document_id, version from moved`);
  return [lock, update] as const;
}

/** A row of `transitionVersionsStatements`' second statement: a version that moved. */
export type MovedKey = { document_id: string; version: number };

/**
 * Counts one more start of extraction for each of these versions that is in `processing` (and, with
 * `unstarted`, only where no start is counted yet), in one statement for either mode. Rows
 * `{ documentId, version, starts }` of the versions counted: their starts that have not finished,
 * this one included. Every orderly ending resets the count (a transition, `noteRetry`), so a count
 * above one means earlier deliveries ended without running any code after it: the runtime ended the
 * isolate (CPU or memory limit). A version not in the rows was not counted.
 */
export function startExtractions(
  db: Queryable,
  params: { keys: readonly { documentId: string; version: number }[]; unstarted?: boolean },
) {
  return db
    .update(documentVersions)
    .set({ extractionStarts: sql`${documentVersions.extractionStarts} + 1` })
    .where(
      and(
        versionKeyIn(params.keys),
        eq(documentVersions.status, "processing"),
        params.unstarted ? eq(documentVersions.extractionStarts, 0) : undefined,
      ),
    )
    .returning({
      documentId: documentVersions.documentId,
      version: documentVersions.version,
      starts: documentVersions.extractionStarts,
    });
}

/**
 * Keeps the operator's detail of a transient failure on a version still in transit (its status
 * unchanged, no reason code: it has not failed).
 */
export async function noteRetry(
  tx: Transaction,
  params: { documentId: string; version: number; detail: string },
): Promise<void> {
  await tx
    .update(documentVersions)
    // The delivery ended in order (it caught its error): an unfinished start no longer counts.
    .set({ failureDetail: params.detail.slice(0, 1000), extractionStarts: 0 })
    .where(
      and(
        eq(documentVersions.documentId, params.documentId),
        eq(documentVersions.version, params.version),
        inArray(documentVersions.status, [...TRANSIENT_STATUSES]),
      ),
    );
}

/**
 * Versions in one of `statuses` (default: every transient one) untouched since before `olderThan`
 * (and, if given, since `newerThan`):
 * their messages were lost or are late. Oldest first.
 */
export async function stuckVersions(
  tx: Transaction,
  params: { olderThan: Date; newerThan?: Date; limit: number; statuses?: readonly DocumentStatus[] },
): Promise<Pick<DocumentVersion, "documentId" | "version" | "status" | "updatedAt">[]> {
  return tx
    .select({
      documentId: documentVersions.documentId,
      version: documentVersions.version,
      status: documentVersions.status,
      updatedAt: documentVersions.updatedAt,
    })
    .from(documentVersions)
    .where(
      and(
        inArray(documentVersions.status, [...(params.statuses ?? TRANSIENT_STATUSES)]),
        // A deleted document's versions stay as they are until the purge removes them.
        sql`not exists (select 1 from ${documents} gone where gone.id = ${documentVersions.documentId} and gone.deleted_at is not null)`,
        lt(documentVersions.updatedAt, params.olderThan),
        params.newerThan ? gte(documentVersions.updatedAt, params.newerThan) : undefined,
      ),
    )
    .orderBy(asc(documentVersions.updatedAt))
    .limit(params.limit);
}

/** What version retention keeps (src/documents/retention.ts; the processor's VERSION_RETENTION_* variables). */
export interface VersionRetention {
  /** The newest this many versions of every document are kept, whatever their age. */
  keepLatest: number;
  /** Of older versions, the newest of each UTC day created at or after this instant is kept; the others go. */
  dailySince: Date;
}

/**
 * The versions retention prunes, as SQL over the versions of documents `scope` selects: not the
 * current one, not among the newest `keepLatest` (by number), and either created before
 * `dailySince` or not the newest of its UTC day; never one in a transient status (its processing
 * is under way) nor of a deleted document (the purge takes it whole). Rows of `document_id, version`.
 */
function prunableVersions(retention: VersionRetention, scope: SQL, limit: number): SQL {
  const transient = sql.join(
    TRANSIENT_STATUSES.map((status) => sql`${status}`),
    sql`, `,
  );
  return sql`
    select r.document_id, r.version from (
      select v.document_id, v.version, v.status, v.created_at, d.current_version,
             row_number() over (partition by v.document_id order by v.version desc) as newest,
             row_number() over (partition by v.document_id, (v.created_at at time zone 'UTC')::date
                                order by v.version desc) as of_day
        from document_versions v join documents d on d.id = v.document_id
       where d.deleted_at is null and ${scope}
    ) r
     where r.newest > ${retention.keepLatest} and r.version <> r.current_version
       and r.status not in (${transient})
       and (r.created_at < ${retention.dailySince.toISOString()}::timestamptz or r.of_day > 1)
     order by r.document_id, r.version
     limit ${limit}`;
}

/**
 * Documents with versions that retention prunes (at most `limit` versions' worth), as the system:
 * only documents with a version numbered above `keepLatest` can have more than that many, which
 * the primary key answers per document. Read without locks; `pruneVersions` decides again under them.
 */
export async function documentsToThin(
  tx: Transaction,
  params: { retention: VersionRetention; limit: number },
): Promise<string[]> {
  const scope = sql`exists (select 1 from document_versions x where x.document_id = d.id and x.version > ${params.retention.keepLatest})`;
  const rows = await tx.execute<{ document_id: string }>(
    sql`select distinct p.document_id from (${prunableVersions(params.retention, scope, params.limit)}) p`,
  );
  return rows.rows.map((row) => row.document_id);
}

/** What `pruneVersions` removed: how many versions, and the objects no version refers to any more. */
export interface PrunedVersions {
  versions: number;
  /** Keys in the documents bucket; each has an upload intent until `removeUploadIntents` (the orphan rule deletes it if storage fails). */
  objects: string[];
  /** Keys in the thumbnails bucket: thumbnails and renditions no remaining version of the document has. */
  thumbnails: string[];
}

/**
 * Removes the versions retention prunes (`prunableVersions`, at most `limit`) of the documents
 * `documentIds`, as the system, in the caller's transaction: the documents are locked first
 * (`for update skip locked`: one a writer holds waits for the next run), so a version restore or
 * upload on them waits and then sees the versions gone, and the rule is evaluated under the lock.
 * Their extracted text goes too. An object is kept while any version still names it (a restored
 * version shares its original's object, src/documents/versions.ts), and so is a thumbnail or a
 * rendition (named by the content's SHA-256) while a version of the document still has it. The
 * objects to delete get upload intents in the same transaction, so a storage failure after the
 * commit leaves them to the sweeper's orphan rule rather than unreferenced for ever.
 */
export async function pruneVersions(
  tx: Transaction,
  params: { documentIds: readonly string[]; retention: VersionRetention; limit: number },
): Promise<PrunedVersions> {
  if (params.documentIds.length === 0) return { versions: 0, objects: [], thumbnails: [] };
  const locked = await tx
    .select({ id: documents.id })
    .from(documents)
    .where(and(inArray(documents.id, [...params.documentIds]), isNull(documents.deletedAt)))
    .for("update", { skipLocked: true });
  if (locked.length === 0) return { versions: 0, objects: [], thumbnails: [] };
  const ids = sql`d.id in (${sql.join(
    locked.map((row) => sql`${row.id}::uuid`),
    sql`, `,
  )})`;
  const removed = await tx.execute<{
    document_id: string;
    version: number;
    storage_key: string;
    thumbnail_key: string | null;
    content_type: string;
    sha256: string;
  }>(sql`
    delete from document_versions v
     using (${prunableVersions(params.retention, ids, params.limit)}) p
     where v.document_id = p.document_id and v.version = p.version
    returning v.document_id, v.version, v.storage_key, v.thumbnail_key, v.content_type, v.sha256`);
  if (removed.rows.length === 0) return { versions: 0, objects: [], thumbnails: [] };
  await tx.execute(sql`
    delete from document_content c
     using (select * from jsonb_to_recordset(${JSON.stringify(
       removed.rows.map((row) => ({ document_id: row.document_id, version: row.version })),
     )}::jsonb) as gone(document_id uuid, version integer)) g
     where c.document_id = g.document_id and c.version = g.version`);
  const keys = [...new Set(removed.rows.map((row) => row.storage_key))];
  const stillNamed = await tx
    .selectDistinct({ key: documentVersions.storageKey })
    .from(documentVersions)
    .where(inArray(documentVersions.storageKey, keys));
  const objects = keys.filter((key) => !stillNamed.some((row) => row.key === key));
  const thumbnails = new Set<string>();
  for (const documentId of new Set(removed.rows.map((row) => row.document_id))) {
    const kept = await tx
      .select({ thumbnailKey: documentVersions.thumbnailKey, sha256: documentVersions.sha256 })
      .from(documentVersions)
      .where(eq(documentVersions.documentId, documentId));
    for (const row of removed.rows.filter((gone) => gone.document_id === documentId)) {
      if (row.thumbnail_key && !kept.some((version) => version.thumbnailKey === row.thumbnail_key))
        thumbnails.add(row.thumbnail_key);
      if (row.content_type.startsWith("image/") && !kept.some((version) => version.sha256 === row.sha256))
        for (const format of RENDITION_FORMATS) thumbnails.add(renditionKey(documentId, row.sha256, format));
    }
  }
  if (objects.length > 0)
    await tx
      .insert(uploadIntents)
      .values(objects.map((storageKey) => ({ storageKey })))
      .onConflictDoNothing();
  return { versions: removed.rows.length, objects, thumbnails: [...thumbnails] };
}

/** Puts a version back to pending for another run of the pipeline (admin reprocessing). */
export async function resetVersion(tx: Transaction, params: { documentId: string; version: number }) {
  return transitionVersion(tx, {
    ...params,
    from: ["pending", "scanning", "processing", "ready", "failed"],
    to: "pending",
    failureReason: null,
    failureDetail: null,
  });
}

/**
 * Gives version `to` the extracted text of version `from` (a restore of the same object), if it
 * has any; staff only (row-level security on `document_content`).
 */
export async function copyContent(tx: Transaction, params: { documentId: string; from: number; to: number }) {
  await tx.execute(sql`
    insert into ${documentContent} (document_id, version, text, truncated)
    select document_id, ${params.to}, text, truncated
      from ${documentContent}
     where document_id = ${params.documentId} and version = ${params.from}
    on conflict do nothing`);
}

/**
 * Who sees the document: its owner (uploader), every user it is shared with and every member of
 * its project (rows of `id`, repeats possible, in no order), in one statement. Both modes: cache
 * invalidation batches it. Read it as the system.
 */
export function selectDocumentAudience(db: Queryable, params: { documentId: string }) {
  return selectDocumentsAudience(db, { documentIds: [params.documentId] });
}

/**
 * Who sees any of these documents: their owners, every user one is shared with and every member
 * of their projects (rows of `id`, repeats possible, in no order), in one statement. Both modes: a
 * processor batch's cache invalidation reads it in one HTTP round trip. Read it as the system.
 */
export function selectDocumentsAudience(db: Queryable, params: { documentIds: readonly string[] }) {
  const ids = [...params.documentIds];
  return db
    .select({ id: documents.ownerId })
    .from(documents)
    .where(inArray(documents.id, ids))
    .unionAll(
      db.select({ id: documentShares.userId }).from(documentShares).where(inArray(documentShares.documentId, ids)),
    )
    .unionAll(
      db
        .select({ id: projectMembers.userId })
        .from(projectMembers)
        .innerJoin(documents, eq(documents.projectId, projectMembers.projectId))
        .where(inArray(documents.id, ids)),
    );
}

export async function documentAudience(tx: Transaction, params: { documentId: string }): Promise<string[]> {
  return (await selectDocumentAudience(tx, params)).map((row) => row.id);
}

export async function listShares(
  tx: Transaction,
  params: { documentId: string },
): Promise<{ userId: string; username: string; access: ShareAccess; createdAt: Date }[]> {
  return tx
    .select({
      userId: documentShares.userId,
      username: users.username,
      access: documentShares.access,
      createdAt: documentShares.createdAt,
    })
    .from(documentShares)
    .innerJoin(users, eq(users.id, documentShares.userId))
    .where(eq(documentShares.documentId, params.documentId))
    .orderBy(asc(documentShares.createdAt));
}

/**
 * Serialises changes to a document's shares until the transaction ends: a transaction-level
 * advisory lock keyed by the document. Not a row lock, because row-level security lets a user
 * leaving a share lock no row of the document; every route changing shares takes it, so a
 * conditional change evaluates its preconditions on the very list it then changes.
 */
export async function lockShares(tx: Transaction, params: { documentId: string }): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`document_shares:${params.documentId}`}, 0))`);
}

export async function putShare(
  tx: Transaction,
  params: { documentId: string; userId: string; access: ShareAccess; grantedBy: string },
): Promise<void> {
  await tx
    .insert(documentShares)
    .values(params)
    .onConflictDoUpdate({ target: [documentShares.documentId, documentShares.userId], set: { access: params.access } });
}

export async function deleteShare(tx: Transaction, params: { documentId: string; userId: string }): Promise<boolean> {
  const removed = await tx
    .delete(documentShares)
    .where(and(eq(documentShares.documentId, params.documentId), eq(documentShares.userId, params.userId)))
    .returning({ userId: documentShares.userId });
  return removed.length > 0;
}

/** What a user's documents hold now, for their quotas (src/documents/quota.ts). */
export interface StorageUsage {
  /** The owner's role: quotas bind `user`s only. */
  role: string;
  /** Documents not deleted. */
  documents: number;
  /** Versions of those documents, restored ones included. */
  versions: number;
  /** Bytes of their distinct stored objects (a restored version shares its object: counted once). */
  bytes: number;
}

/**
 * Serialises every change that adds to the owner's usage until the transaction ends: a
 * transaction-level advisory lock keyed by the owner. Taken before `storageUsage` in the
 * transaction that checks a quota, so two concurrent uploads cannot both pass a check that only
 * one of them fits in; the lock is released only once the upload's own transaction has committed.
 */
export async function lockStorageUsage(tx: Transaction, params: { ownerId: string }): Promise<void> {
  // The key as `confirm_storage` (migration 0023) builds it, from the id in Postgres's spelling.
  await tx.execute(
    sql`select pg_advisory_xact_lock(hashtextextended('storage_usage:' || ${params.ownerId}::uuid::text, 0))`,
  );
}

/** SQLSTATE of `confirmStorage`'s refusal: a quota would be exceeded (DETAIL: `QuotaRefusal` as JSON). */
export const QUOTA_EXCEEDED_SQLSTATE = "Q0001";
/** SQLSTATE of `confirmStorage` for an owner that does not exist. */
export const UNKNOWN_OWNER_SQLSTATE = "Q0002";

/** The figures of a `confirmStorage` refusal (its error's DETAIL): counts, or bytes for `bytes`. */
export interface QuotaRefusal {
  quota: "documents" | "versions" | "bytes";
  limit: number;
  used: number;
  requested: number;
}

/**
 * `lockStorageUsage`, `storageUsage` and the quota check in one statement, for the END of a
 * `batchAsActor` batch that has already written what it adds (SQL function `confirm_storage`,
 * migration 0023): takes the owner's usage lock (held to the commit, so only from this statement
 * on), reads the usage after it, which counts the batch's own rows, and fails the statement,
 * rolling the batch back, when that passes `limits` (documents, then versions, then bytes; each
 * only when `need` has some; admins exempt): SQLSTATE `QUOTA_EXCEEDED_SQLSTATE` with the figures
 * (`used` without the batch's own `need`) as DETAIL, or `UNKNOWN_OWNER_SQLSTATE`. Run it as the
 * system (the usage of every document of the owner).
 */
export function confirmStorage(
  db: HttpQueryBuilder,
  params: {
    ownerId: string;
    /** Numbers, or SQL values computed in the statement (`documentUsage`). */
    need: { documents: number | SQL; versions: number | SQL; bytes: number | SQL };
    limits: { documents: number; versions: number; bytes: number };
  },
) {
  const { ownerId, need, limits } = params;
  return db.execute(
    sql`select confirm_storage(${ownerId}::uuid, ${need.documents}, ${need.versions}, ${need.bytes}, ${limits.documents}, ${limits.versions}, ${limits.bytes})`,
  );
}

/**
 * The owner's usage, as the system sees it: a user with a write share adds versions to documents
 * of an owner whose other documents they cannot read. Undefined for an unknown user.
 */
export async function storageUsage(tx: Transaction, params: { ownerId: string }): Promise<StorageUsage | undefined> {
  return storageUsageOf((await tx.execute<StorageUsageRow>(storageUsageStatement(params))).rows);
}

/** A row of `storageUsageStatement`: counts as text (bigint sums exceed a JavaScript integer's type). */
export type StorageUsageRow = { role: string; documents: string; versions: string; bytes: string };

/** The rows of `storageUsageStatement` as the owner's usage; undefined for an unknown owner. */
export function storageUsageOf(rows: readonly StorageUsageRow[]): StorageUsage | undefined {
  const [row] = rows;
  if (!row) return undefined;
  return { role: row.role, documents: Number(row.documents), versions: Number(row.versions), bytes: Number(row.bytes) };
}

/**
 * The SQL of `storageUsage`, for either mode's `execute` (`execute<StorageUsageRow>`): an upload's
 * early check runs it in the HTTP batch that records its intent.
 */
export function storageUsageStatement(params: { ownerId: string }): SQL {
  // The usage is defined once, by the SQL function `storage_usage` (migration 0021) that `confirm_storage` checks with.
  return sql`select role, documents::text, versions::text, bytes::text from storage_usage(${params.ownerId}::uuid)`;
}

/**
 * Files the document in the project `projectId`, or makes it `movedBy`'s personal document (null),
 * unless it is there already or deleted. Row-level security checks the caller writes where it goes;
 * the trigger documents_guard that they manage where it was (migration 0025). Returns the moved
 * row, none when nothing moved. Both modes.
 */
export function moveDocumentStatement(
  db: Queryable,
  params: { id: string; projectId: string | null; movedBy: string },
) {
  return db
    .update(documents)
    .set({
      projectId: params.projectId,
      ...(params.projectId === null ? { ownerId: params.movedBy } : {}),
      updatedAt: changedAt,
    })
    .where(
      and(
        eq(documents.id, params.id),
        isNull(documents.deletedAt),
        params.projectId === null
          ? isNotNull(documents.projectId)
          : sql`${documents.projectId} is distinct from ${params.projectId}`,
      ),
    )
    .returning();
}

/** SQLSTATE of `confirmProjectStorage`'s refusal: the project's quota would be exceeded (DETAIL: `QuotaRefusal`). */
export const PROJECT_QUOTA_EXCEEDED_SQLSTATE = "Q0003";
/** SQLSTATE of `confirmProjectStorage` for a project that does not exist or is deleted. */
export const UNKNOWN_PROJECT_SQLSTATE = "Q0004";

/**
 * `confirmStorage` for a project (SQL function `confirm_project_storage`, migration 0027), for the
 * END of a batch that has already written what it adds: takes the project's usage lock (held to the
 * commit), reads the bytes of its documents' distinct objects, which count the batch's own rows,
 * and fails the statement when they pass `limitBytes`: SQLSTATE `PROJECT_QUOTA_EXCEEDED_SQLSTATE`
 * with the figures as DETAIL (`quota` is `projectBytes`), or `UNKNOWN_PROJECT_SQLSTATE`. As the system.
 */
export function confirmProjectStorage(
  db: HttpQueryBuilder | Transaction,
  params: { projectId: string; needBytes: number | SQL; limitBytes: number },
) {
  return db.execute(
    sql`select confirm_project_storage(${params.projectId}::uuid, ${params.needBytes}, ${params.limitBytes})`,
  );
}

/** A project's usage, as the system sees it (`project_storage_usage`, migration 0027); none for a gone project. */
export const projectStorageStatement = (params: { projectId: string }) =>
  sql`select documents::text, bytes::text from project_storage_usage(${params.projectId}::uuid)`;

/** The rows of `projectStorageStatement` as the project's usage in bytes; undefined for a gone project. */
export function projectStorageOf(rows: readonly { documents: string; bytes: string }[]): { bytes: number } | undefined {
  const [row] = rows;
  return row ? { bytes: Number(row.bytes) } : undefined;
}

/**
 * What moving the document `documentId` adds where it goes, as SQL values for `confirmStorage` and
 * `confirmProjectStorage` (`document_usage`, migration 0027): its versions and its distinct objects' bytes.
 */
export const documentUsage = (documentId: string) => ({
  versions: sql`(select versions from document_usage(${documentId}::uuid))`,
  bytes: sql`(select bytes from document_usage(${documentId}::uuid))`,
});
