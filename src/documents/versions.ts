import { asActor, firstRow, SYSTEM } from "../db/actor.ts";
import {
  accessFrom,
  addVersion,
  copyContent,
  type DocumentChanges,
  getDocument,
  getVersion,
  lockDocument,
  resetVersion,
  type StoredVersion,
  selectShareAccess,
} from "../db/queries/documents.ts";
import type { Document, DocumentVersion } from "../db/schema/documents.ts";
import { ApiError } from "../pkg/errors/api-error.ts";
import { announceVersion, type IntakeDeps, withinQuota } from "./intake.ts";
import { cannotWrite, noDocument, type RequireUnchanged } from "./rules.ts";

/** What restoring and reprocessing talk to: Postgres, the owner's quotas, the events queue. */
export type VersionDeps = Pick<IntakeDeps, "database" | "events" | "logger" | "requestId"> & {
  limits: Pick<IntakeDeps["limits"], "quota" | "projectQuotaBytes">;
};

/** A version's file as a new version records it again: the same stored object, never copied. */
const sameFile = (version: DocumentVersion): StoredVersion => ({
  storageKey: version.storageKey,
  contentType: version.contentType,
  sizeBytes: version.sizeBytes,
  sha256: version.sha256,
  filename: version.filename,
});

/**
 * Restores version `version` of a document as a new current version (POST
 * /documents/{id}/versions/{version}/restore), counted against `ownerId`'s versions quota (no
 * bytes: the object is shared). Runs in one transaction under the owner's quota lock, as the
 * system because copying the old version's text is staff-only; the caller's write access is
 * checked again there on the locked row, then `requireUnchanged`. A version processed clean keeps
 * its results; any other is announced (`document.uploaded`) for processing. Resolves to the
 * document at the new version. Throws 404 (no such document or version), 403 (a read share, or
 * `quota_exceeded`), 409 (a quarantined version), 412 from `requireUnchanged`.
 */
export async function restoreVersion(
  deps: VersionDeps,
  target: {
    documentId: string;
    version: number;
    ownerId: string;
    /** The document's project, whose quota counts it instead of the owner's; null when personal. */
    projectId: string | null;
    viewer: DocumentChanges["viewer"];
  },
  requireUnchanged: RequireUnchanged,
): Promise<Document> {
  const { documentId: id, version, viewer, projectId } = target;
  const project = projectId ? { id: projectId, limitBytes: deps.limits.projectQuotaBytes } : undefined;
  const change = { ownerId: target.ownerId, need: { documents: 0, versions: 1, bytes: 0 }, actor: SYSTEM, project };
  const restored = await withinQuota(deps.database, deps.limits.quota, change, async (tx) => {
    const current = await lockDocument(tx, { id, viewer });
    if (!current) throw noDocument(id);
    const facts = firstRow(await selectShareAccess(tx, { documentId: id, userId: viewer.userId }));
    if (accessFrom(current, viewer, facts) === "read") throw cannotWrite(current, facts);
    const old = await getVersion(tx, { documentId: id, version });
    if (!old) throw new ApiError("not_found", { detail: `No version ${version} of ${id}.` });
    if (old.status === "quarantined")
      throw new ApiError("conflict", { detail: "A quarantined version cannot be restored." });
    // After the checks above: a request that fails for another reason ignores its
    // preconditions (RFC 9110 §13.2.1).
    await requireUnchanged(current);
    // A version processed clean is not processed again (OWASP API4:2023): the object is the
    // same, so its scan, text and thumbnail are too. Any other (in progress, failed, or not
    // scanned because scanning was off) goes through the pipeline.
    const done = old.status === "ready" && old.scanResult === "clean";
    const added = await addVersion(tx, {
      documentId: id,
      createdBy: viewer.userId,
      restoredFrom: version,
      file: sameFile(old),
      processed: done
        ? { scanResult: "clean", thumbnailKey: old.thumbnailKey, processedAt: old.processedAt }
        : undefined,
    });
    if (!added) throw noDocument(id);
    if (done) await copyContent(tx, { documentId: id, from: version, to: added.version.version });
    return { document: added.document, done };
  });
  const { document } = restored;
  if (!restored.done) await announceVersion(deps, id, document.currentVersion);
  return document;
}

/**
 * Runs the processing pipeline again for a document's current version (POST
 * /documents/{id}/reprocess): the version is reset to pending on the locked row and
 * `document.uploaded` published. As the system, for an operator whose permission
 * (`documents:manage`) the HTTP layer has checked: they need not be able to write the document
 * themselves. Resolves to the document, pending again. Throws 404, 409 (quarantined, or a state
 * that cannot be reset now), 412 from `requireUnchanged`.
 */
export async function reprocessDocument(
  deps: Pick<VersionDeps, "database" | "events" | "logger" | "requestId">,
  target: { documentId: string; operatorId: string },
  requireUnchanged: RequireUnchanged,
): Promise<Document> {
  const id = target.documentId;
  const anyDocument = { userId: target.operatorId, readsAll: true };
  const document = await asActor(deps.database.db, SYSTEM, async (tx) => {
    const found = await lockDocument(tx, { id, viewer: anyDocument });
    if (!found) throw noDocument(id);
    if (found.status === "quarantined") {
      throw new ApiError("conflict", { detail: "A quarantined version is not processed again." });
    }
    await requireUnchanged(found);
    if (!(await resetVersion(tx, { documentId: id, version: found.currentVersion }))) {
      throw new ApiError("conflict", { detail: "The current version cannot be processed again now." });
    }
    return getDocument(tx, { id, viewer: anyDocument });
  });
  if (!document) throw noDocument(id);
  await announceVersion(deps, id, document.currentVersion);
  return document;
}
