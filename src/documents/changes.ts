import { sql } from "drizzle-orm";
import { type Actor, actAs, asActor, batchAsActor, firstRow, READ_ONLY, SYSTEM, switchActor } from "../db/actor.ts";
import type { DatabaseHandle } from "../db/client.ts";
import {
  accessFrom,
  confirmProjectStorage,
  type DocumentChanges,
  getDocument,
  getDocumentForProcessing,
  lockStorageUsage,
  recordDocumentChanges,
  resetVersion,
  selectDocumentAudience,
  selectDocumentInAnyState,
  selectReadableDocument,
  selectShareAccess,
  softDeleteDocument,
  storageUsage,
  undeleteDocumentStatement,
  updateDocument,
} from "../db/queries/documents.ts";
import { type Document, TRANSIENT_STATUSES } from "../db/schema/documents.ts";
import { ApiError } from "../pkg/errors/api-error.ts";
import { projectArchived } from "../projects/rules.ts";
import { announceVersion, type IntakeDeps } from "./intake.ts";
import { quotaRefusal, requireQuota, type StorageQuota } from "./quota.ts";
import { DELETED_DOCUMENT_GRACE_MS } from "./retention.ts";
import { cannotManage, cannotWrite, lockedForWrite, noDocument, ownerGone, type RequireUnchanged } from "./rules.ts";

/** A document as changed, and who sees it when the change read that too (user ids; for the search cache). */
export interface ChangedDocument {
  document: Document;
  /** Undefined when the change did not read it: the caller reads it itself (`invalidateDocument`). */
  audience: readonly { id: string }[] | undefined;
}

/**
 * Changes a document's title and tags (PATCH /documents/{id}) as `actor`, who must be able to
 * write it (owner of a personal document, write share, project editor and up, admin). With `requireUnchanged` (a conditional request) in one
 * WebSocket transaction: access, then the locked row's validators, then the write. Without, in
 * ONE HTTP round trip: the write states its own access rule; the reads beside it tell a 404 from
 * a 403 when it changed nothing; last, as the system, who sees the document. Throws 404
 * `not_found` (not visible or gone), 403 `forbidden` (a read share or project role), 409 (an archived
 * project), 412 from `requireUnchanged`.
 */
export async function changeDocument(
  database: DatabaseHandle,
  actor: Actor,
  changes: DocumentChanges,
  requireUnchanged: RequireUnchanged | undefined,
): Promise<ChangedDocument> {
  const { id, viewer } = changes;
  if (requireUnchanged) {
    const document = await asActor(database.db, actor, async (tx) => {
      const current = await getDocument(tx, { id, viewer });
      if (!current) throw noDocument(id);
      const share = firstRow(await selectShareAccess(tx, { documentId: id, userId: viewer.userId }));
      if (accessFrom(current, viewer, share) === "read") throw cannotWrite(current, share);
      await lockedForWrite(tx, { id, viewer }, requireUnchanged);
      return updateDocument(tx, changes);
    });
    if (!document) throw noDocument(id);
    return { document, audience: undefined };
  }
  const [found, share, changed, , audience] = await batchAsActor(database.http, actor, (db) => [
    selectReadableDocument(db, { id, viewer }),
    selectShareAccess(db, { documentId: id, userId: viewer.userId }),
    recordDocumentChanges(db, changes),
    actAs(db, SYSTEM),
    selectDocumentAudience(db, { documentId: id }),
  ]);
  const document = firstRow(changed);
  if (document) return { document, audience };
  const current = firstRow(found);
  if (current && accessFrom(current, viewer, firstRow(share)) === "read") throw cannotWrite(current, firstRow(share));
  throw noDocument(id);
}

/**
 * Marks a document deleted (DELETE /documents/{id}) as `actor`, its owner or an admin (the HTTP
 * layer checked), on the locked row once `requireUnchanged` holds for it, in one WebSocket
 * transaction. Its objects and thumbnails stay: it can be restored (`restoreDeletedDocument`)
 * until the sweeper purges it with them after `DELETED_DOCUMENT_GRACE_MS`. Throws 404
 * `not_found` (not visible or gone), 412 from `requireUnchanged`.
 */
export async function removeDocument(
  database: DatabaseHandle,
  actor: Actor,
  target: { id: string; viewer: DocumentChanges["viewer"] },
  requireUnchanged: RequireUnchanged,
): Promise<void> {
  const removed = await asActor(database.db, actor, async (tx) => {
    await lockedForWrite(tx, target, requireUnchanged);
    return softDeleteDocument(tx, target);
  });
  if (!removed) throw noDocument(target.id);
}

/** What restoring needs beyond the target: the quotas its owner or project is held to. */
export interface RestoreLimits {
  quota: StorageQuota;
  projectQuotaBytes: number;
}

/**
 * Why `target` cannot be restored now, or nothing when it can, from one READ ONLY HTTP batch as
 * `actor` (row-level security applies, an API key's project binding included): 404 when the
 * caller cannot read it (never existed, purged, not theirs) or its grace has passed, 409 when it
 * is not deleted or its project is deleted or archived, 403 when they read it but do not manage it.
 */
async function restoreRefusal(
  database: DatabaseHandle,
  actor: Actor,
  target: { id: string; viewer: DocumentChanges["viewer"] },
): Promise<ApiError | undefined> {
  const { id, viewer } = target;
  const [rows, share] = await batchAsActor(
    database.http,
    actor,
    (db) => [
      selectDocumentInAnyState(db, { id, viewer, graceMs: DELETED_DOCUMENT_GRACE_MS }),
      selectShareAccess(db, { documentId: id, userId: viewer.userId }),
    ],
    READ_ONLY,
  );
  const found = firstRow(rows);
  if (!found) return noDocument(id);
  const { document, restorable } = found;
  if (document.deletedAt === null) return new ApiError("conflict", { detail: `The document ${id} is not deleted.` });
  if (!restorable)
    return new ApiError("not_found", { detail: `The document ${id} was deleted too long ago to be restored.` });
  const facts = firstRow(share);
  if (accessFrom(document, viewer, facts) !== "manage")
    return cannotManage(
      document,
      facts,
      "Only the owner of a personal document, an owner or admin of its project, or an administrator restores it.",
    );
  if (document.projectId !== null && facts?.projectArchived !== false) {
    // project_archived reads null for a deleted project.
    return facts?.projectArchived
      ? projectArchived(document.projectId)
      : new ApiError("conflict", { detail: `The project ${document.projectId} of this document is deleted.` });
  }
  return undefined;
}

/**
 * Brings a deleted document back (POST /documents/{id}/restore) within its grace
 * (`DELETED_DOCUMENT_GRACE_MS`), as `actor` who manages it (the owner of a personal document, an
 * owner or admin of its project, an administrator). First the refusals (`restoreRefusal`: 404,
 * 409, 403), then one WebSocket transaction: the row is undeleted as the actor (the statement
 * states the rule, row-level security and the trigger documents_guard check it again), then as the
 * system its quota is checked as for a new document under the same lock as uploads (OWASP
 * API4:2023): a personal document adds one document, its versions and their distinct bytes to its
 * owner's usage (403 `quota_exceeded`), a project's adds its bytes to the project's (413
 * `payload_too_large`); a refusal rolls the restore back. A current version whose processing the
 * deletion stopped midway is set pending again and announced. Resolves to the document restored.
 */
export async function restoreDeletedDocument(
  deps: Pick<IntakeDeps, "database" | "events" | "logger" | "requestId">,
  actor: Actor,
  target: { id: string; viewer: DocumentChanges["viewer"] },
  limits: RestoreLimits,
): Promise<Document> {
  const { id, viewer } = target;
  const refusal = await restoreRefusal(deps.database, actor, target);
  if (refusal) throw refusal;
  const restored = await asActor(deps.database.db, actor, async (tx) => {
    const document = firstRow(await undeleteDocumentStatement(tx, { id, viewer, graceMs: DELETED_DOCUMENT_GRACE_MS }));
    if (!document) return undefined;
    await switchActor(tx, SYSTEM);
    const need = documentUsageOf(
      (
        await tx.execute<{ versions: string; bytes: string }>(
          sql`select versions, bytes from document_usage(${id}::uuid)`,
        )
      ).rows,
    );
    if (document.projectId !== null) {
      await confirmProjectStorage(tx, {
        projectId: document.projectId,
        needBytes: need.bytes,
        limitBytes: limits.projectQuotaBytes,
      });
    } else {
      await lockStorageUsage(tx, { ownerId: document.ownerId });
      const usage = await storageUsage(tx, { ownerId: document.ownerId });
      if (!usage) throw ownerGone();
      const wanted = { documents: 1, ...need };
      // The usage counts the restored document already: the check is against what was there before.
      requireQuota(
        {
          ...usage,
          documents: usage.documents - wanted.documents,
          versions: usage.versions - wanted.versions,
          bytes: usage.bytes - wanted.bytes,
        },
        limits.quota,
        wanted,
      );
    }
    const interrupted = (TRANSIENT_STATUSES as readonly string[]).includes(document.status);
    if (!interrupted) return { document, interrupted };
    await resetVersion(tx, { documentId: id, version: document.currentVersion });
    // The reset changed the row (status, updatedAt): answered as it is now, so its ETag holds.
    return { document: (await getDocumentForProcessing(tx, { id })) ?? document, interrupted };
  }).catch((error: unknown) => {
    throw quotaRefusal(error) ?? error;
  });
  if (!restored) {
    // Restored, purged, moved into an archived project or taken from the caller meanwhile: told as it is now.
    throw (await restoreRefusal(deps.database, actor, target)) ?? noDocument(id);
  }
  if (restored.interrupted) await announceVersion(deps, id, restored.document.currentVersion);
  return restored.document;
}

/** The rows of `document_usage` as numbers (bigint sums come back as text). */
function documentUsageOf(rows: readonly { versions: string; bytes: string }[]): { versions: number; bytes: number } {
  const [row] = rows;
  return { versions: Number(row?.versions ?? 0), bytes: Number(row?.bytes ?? 0) };
}
