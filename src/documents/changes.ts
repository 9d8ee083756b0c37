import { type Actor, actAs, asActor, batchAsActor, firstRow, SYSTEM } from "../db/actor.ts";
import type { DatabaseHandle } from "../db/client.ts";
import {
  accessFrom,
  type DocumentChanges,
  getDocument,
  recordDocumentChanges,
  selectDocumentAudience,
  selectReadableDocument,
  selectShareAccess,
  softDeleteDocument,
  updateDocument,
} from "../db/queries/documents.ts";
import type { Document } from "../db/schema/documents.ts";
import { cannotWrite, lockedForWrite, noDocument, type RequireUnchanged } from "./rules.ts";

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
 * transaction. Resolves to the objects to remove from the documents and thumbnails buckets (keys
 * of every version and thumbnail). Throws 404 `not_found` (not visible or gone), 412 from
 * `requireUnchanged`.
 */
export async function removeDocument(
  database: DatabaseHandle,
  actor: Actor,
  target: { id: string; viewer: DocumentChanges["viewer"] },
  requireUnchanged: RequireUnchanged,
): Promise<{ objects: string[]; thumbnails: string[] }> {
  const removed = await asActor(database.db, actor, async (tx) => {
    await lockedForWrite(tx, target, requireUnchanged);
    return softDeleteDocument(tx, target);
  });
  if (!removed) throw noDocument(target.id);
  return removed;
}
