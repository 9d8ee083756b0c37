import type { ZodType } from "zod";
import { type Actor, actAs, asActor, batchAsActor, SYSTEM, switchActor, type Transaction } from "../db/actor.ts";
import type { DatabaseHandle } from "../db/client.ts";
import { isForeignKeyViolation, isUncertainCommit } from "../db/errors.ts";
import {
  addVersion,
  confirmProjectStorage,
  confirmStorage,
  type DocumentChanges,
  endUploadIntent,
  insertDocumentStatements,
  insertUploadIntent,
  lockStorageUsage,
  projectStorageOf,
  projectStorageStatement,
  removeUploadIntent,
  type StorageUsageRow,
  type StoredVersion,
  storageUsage,
  storageUsageOf,
  storageUsageStatement,
  updateDocument,
} from "../db/queries/documents.ts";
import type { Document } from "../db/schema/documents.ts";
import { ApiError, validationFailed } from "../pkg/errors/api-error.ts";
import type { Logger } from "../pkg/logger/logger.ts";
import type { EventPublisher } from "../pkg/queue/events.ts";
import { isStorageDeadline, type ObjectStorage } from "../pkg/storage/storage.ts";
import { noProject } from "../projects/rules.ts";
import {
  bytesLeft,
  projectQuotaExceeded,
  type QuotaNeed,
  quotaExceeded,
  quotaRefusal,
  requireQuota,
  type StorageQuota,
} from "./quota.ts";
import {
  type ReceivedUpload,
  RequestBodyError,
  receiveUpload,
  type UploadRequest,
  uploadFieldErrors,
} from "./receive.ts";
import { lockedForWrite, noDocument, ownerGone, type RequireUnchanged } from "./rules.ts";

// The upload saga: an intent is recorded, the bytes are received into storage, then the document
// or version is recorded in the transaction that ends the intent; on any failure what was stored
// is removed again (or, when that cannot be known, left to the sweeper through the intent).

/** What the saga talks to; all of it per request (src/app/services.ts). */
export interface IntakeDeps {
  /** The documents bucket. */
  storage: ObjectStorage;
  database: DatabaseHandle;
  events: EventPublisher;
  logger: Logger;
  limits: {
    /** The largest file accepted, in bytes (`MAX_UPLOAD_BYTES`). */
    maxBytes: number;
    /** The owner's quotas (`QUOTA_*_PER_USER`), for personal documents. */
    quota: StorageQuota;
    /** A project's storage quota in bytes (`PROJECT_QUOTA_BYTES`), for its documents. */
    projectQuotaBytes: number;
  };
  /** Carried by the `document.uploaded` event into the processor's logs. */
  requestId: string;
}

/** Title and tags of an upload, as the route's schema makes them from the form fields or the query. */
export interface UploadFields {
  title?: string | undefined;
  tags?: string[] | undefined;
}

/** An upload as the request brings it: the body with its headers, and the schema of its fields. */
export interface UploadInput {
  request: UploadRequest;
  /** Validates the raw title and tags (`ReceivedUpload["fields"]`); its issues become a 400 naming them. */
  fields: ZodType<UploadFields>;
}

interface TakenUpload extends ReceivedUpload {
  /** Where the file was stored, in the documents bucket. */
  key: string;
  fields: UploadFields;
}

/**
 * Removes what an upload that did not complete may have stored, and its intent. If storage or the
 * database is down too, the intent stays and the sweeper finishes the job. It stays as well when
 * the upload failed because a storage request was abandoned at its deadline (`failure`): that
 * write may still land after this delete, and only the intent leads the sweeper to it. When the
 * commit that recorded the upload was abandoned at its deadline, nothing is undone. Never throws.
 */
export async function discardUpload(
  deps: Pick<IntakeDeps, "storage" | "database" | "logger">,
  key: string,
  failure: unknown,
): Promise<void> {
  if (isUncertainCommit(failure)) {
    // The transaction recording the upload may have committed: its object must stay. If it did
    // not, the intent (removed only by that transaction) leads the sweeper to the object.
    deps.logger.warn("upload left for the sweeper: its commit is uncertain", { key });
    return;
  }
  const keepIntent = isStorageDeadline(failure);
  await deps.storage
    .delete(key)
    .then(() =>
      keepIntent ? undefined : asActor(deps.database.db, SYSTEM, (tx) => removeUploadIntent(tx, { storageKey: key })),
    )
    .catch((error: unknown) => deps.logger.warn("upload left for the sweeper", { key, error }));
}

/**
 * Whose quota an upload counts against: the owner's, for a personal document (`newDocument`: a
 * document and a version, else a version), or the project's, for a document filed in one.
 */
type QuotaHolder = { ownerId: string; newDocument: boolean; projectId?: string | null | undefined };

/**
 * How much an upload may stream for `holder` before it certainly passes a quota, read in the same
 * round trip that records the intent: throws (after removing the intent) when the holder is at a
 * quota already or is gone; `tooLarge` is the refusal of a file that passes the room left.
 */
async function roomFor(
  deps: IntakeDeps,
  key: string,
  holder: QuotaHolder,
): Promise<{ maxBytes: number; tooLarge?: (requested: number) => ApiError }> {
  const { limits } = deps;
  const { projectId } = holder;
  const [usageResult] = await batchAsActor(deps.database.http, SYSTEM, (db) => [
    projectId
      ? db.execute<{ documents: string; bytes: string }>(projectStorageStatement({ projectId }))
      : db.execute<StorageUsageRow>(storageUsageStatement({ ownerId: holder.ownerId })),
    insertUploadIntent(db, { storageKey: key }),
  ]);
  try {
    if (projectId) {
      const usage = projectStorageOf(usageResult.rows as { documents: string; bytes: string }[]);
      if (!usage) throw noProject(projectId);
      const limit = limits.projectQuotaBytes;
      const refuse = (requested: number) => projectQuotaExceeded({ limit, used: usage.bytes, requested });
      if (usage.bytes + 1 > limit) throw refuse(1);
      const left = limit - usage.bytes;
      return left < limits.maxBytes ? { maxBytes: left, tooLarge: refuse } : { maxBytes: limits.maxBytes };
    }
    const usage = storageUsageOf(usageResult.rows as StorageUsageRow[]);
    const { quota } = limits;
    if (!usage) throw ownerGone();
    requireQuota(usage, quota, { documents: holder.newDocument ? 1 : 0, versions: 1, bytes: 1 });
    const left = bytesLeft(usage, quota);
    return left < limits.maxBytes
      ? {
          maxBytes: left,
          tooLarge: (requested: number) => quotaExceeded("bytes", { limit: quota.bytes, used: usage.bytes, requested }),
        }
      : { maxBytes: limits.maxBytes };
  } catch (error) {
    await discardUpload(deps, key, error);
    throw error;
  }
}

/**
 * Streams an upload to storage under a fresh key, recorded first as an upload intent (so that a
 * failure between storage and database leaves something the sweeper can clean). Returns the file
 * and its validated title and tags. On any failure nothing stays stored: 403 `quota_exceeded`
 * when the owner is at a quota already (or the file passes the bytes left), 413 when a project's
 * quota would be passed, 404 when the owner or project is gone, 400 for invalid fields or a body
 * that broke off, and `receiveUpload`'s 400/413/415.
 */
async function takeUpload(
  deps: IntakeDeps,
  documentId: string,
  holder: QuotaHolder,
  input: UploadInput,
): Promise<TakenUpload> {
  const key = `documents/${documentId}/${crypto.randomUUID()}`;
  // Refused before any byte is stored when the holder is at a quota already; the stream stops
  // where it would pass the bytes left. The check that counts is the one made when recording.
  // The usage and the intent in one HTTP round trip (Postgres must be up before any byte is
  // stored); a refusal removes the intent again.
  const { maxBytes, tooLarge } = await roomFor(deps, key, holder);
  try {
    const received = await receiveUpload(deps.storage, input.request, {
      key,
      maxBytes,
      ...(tooLarge ? { tooLarge } : {}),
    });
    const fields = input.fields.safeParse(received.fields);
    if (!fields.success) {
      const form = input.request.headers.contentType?.startsWith("multipart/") ?? false;
      throw validationFailed(uploadFieldErrors(fields.error, form));
    }
    return { key, ...received, fields: fields.data };
  } catch (error) {
    await discardUpload(deps, key, error);
    if (error instanceof RequestBodyError) {
      // The client's abort (or broken connection), not our failure: a warning and a 400.
      deps.logger.warn("upload abandoned: the request body broke off", { key, error });
      throw new ApiError("bad_request", { detail: "The request body ended before it was complete.", cause: error });
    }
    throw error;
  }
}

/**
 * Runs `record`, the change that adds `need` to the owner's usage, as `actor` in one WebSocket
 * transaction, then takes the owner's usage lock and checks the quota as the system, counting
 * `record`'s own rows (403 `quota_exceeded`, 404 if the owner is gone; the transaction, `record`
 * included, is then rolled back). The lock is held from the check until the commit, so of
 * concurrent changes each sees the ones committed before it: a count-then-insert race cannot let
 * them all pass (OWASP API4:2023). Every path that adds to an owner's usage takes that lock after
 * its writes (`intakeDocument`'s `confirmStorage` too): a transaction holding it only reads and
 * commits, so none waits for it while holding what another needs (a new word of the search
 * vocabulary that both insert). The usage is read as the system, because an editor with a write
 * share adds to an owner whose other documents they cannot see.
 */
export async function withinQuota<T>(
  database: DatabaseHandle,
  quota: StorageQuota,
  change: {
    ownerId: string;
    need: QuotaNeed;
    actor: Actor;
    /** A project's document: its project's quota is checked (its bytes), not the owner's. */
    project?: { id: string; limitBytes: number } | undefined;
  },
  record: (tx: Transaction) => Promise<T>,
): Promise<T> {
  return asActor(database.db, change.actor, async (tx) => {
    const recorded = await record(tx).catch((error: unknown) => {
      // Its rows reference the owner: an owner deleted meanwhile fails them before the check.
      throw isForeignKeyViolation(error) ? ownerGone() : error;
    });
    await switchActor(tx, SYSTEM);
    const { need, project } = change;
    if (project) {
      await confirmProjectStorage(tx, { projectId: project.id, needBytes: need.bytes, limitBytes: project.limitBytes });
      return recorded;
    }
    await lockStorageUsage(tx, { ownerId: change.ownerId });
    const usage = await storageUsage(tx, { ownerId: change.ownerId });
    if (!usage) throw ownerGone();
    // The usage counts `record`'s rows already: the check is against what was there before them.
    requireQuota(
      {
        ...usage,
        documents: usage.documents - need.documents,
        versions: usage.versions - need.versions,
        bytes: usage.bytes - need.bytes,
      },
      quota,
      need,
    );
    return recorded;
  }).catch((error: unknown) => {
    throw quotaRefusal(error) ?? error;
  });
}

/** The version's file as the database records it: where the upload was stored and what it is. */
function storedFile(upload: TakenUpload): StoredVersion {
  const { file } = upload;
  return {
    storageKey: upload.key,
    contentType: file.contentType,
    sizeBytes: file.size,
    sha256: file.sha256,
    filename: upload.filename,
  };
}

/**
 * Runs the database step of an upload (`withinQuota`, whose transaction also ends the upload's
 * intent); if it fails, the stored object is removed again and the failure is thrown on.
 */
async function recordOrUndo(
  deps: IntakeDeps,
  upload: TakenUpload,
  change: {
    ownerId: string;
    need: Omit<QuotaNeed, "bytes">;
    actor: Actor;
    project?: { id: string; limitBytes: number } | undefined;
  },
  record: (tx: Transaction) => Promise<Document>,
): Promise<Document> {
  const need = { ...change.need, bytes: upload.file.size };
  try {
    return await withinQuota(deps.database, deps.limits.quota, { ...change, need }, async (tx) => {
      const document = await record(tx);
      await removeUploadIntent(tx, { storageKey: upload.key });
      return document;
    });
  } catch (error) {
    await discardUpload(deps, upload.key, error);
    throw error;
  }
}

/**
 * Publishes `document.uploaded` for a version whose transaction has committed: the event never
 * announces a version that does not exist (yet). A send that fails is logged, not thrown: the
 * version is stored, and the sweeper publishes the event again for versions left pending.
 */
export async function announceVersion(
  deps: Pick<IntakeDeps, "events" | "logger" | "requestId">,
  documentId: string,
  documentVersion: number,
): Promise<void> {
  try {
    await deps.events.publish({ type: "document.uploaded", documentId, documentVersion, requestId: deps.requestId });
  } catch (error) {
    deps.logger.warn("document.uploaded not sent; the sweeper sends it again", {
      documentId,
      documentVersion,
      error,
    });
  }
}

/**
 * A new document from an upload (POST /documents): received into storage, then recorded in ONE
 * HTTP batch (one Postgres transaction, one round trip): as `actor` (who owns it; `actAs`) the
 * document and its first version are inserted and the upload's intent ended
 * (`endUploadIntent`); then, as the system, `confirmStorage` takes the owner's usage lock and
 * checks the quota under it, counting these rows (403 `quota_exceeded`, 404 when the owner is
 * gone: the problems `withinQuota` throws), and a refusal rolls everything back. The lock is held
 * from that last statement until the commit, as in `withinQuota` (OWASP API4:2023), and no longer
 * across the inserts. Then `document.uploaded` is published. Resolves to the document as recorded.
 * Throws what `takeUpload` throws, and the database's errors (src/db/actor.ts); after any failure
 * nothing stays stored (or the sweeper removes it, see `discardUpload`).
 */
export async function intakeDocument(
  deps: IntakeDeps,
  target: { documentId: string; actor: Actor; ownerId: string; projectId?: string | undefined },
  input: UploadInput,
): Promise<Document> {
  const { documentId, ownerId } = target;
  const { projectId } = target;
  const upload = await takeUpload(deps, documentId, { ownerId, newDocument: true, projectId }, input);
  const need = { documents: 1, versions: 1, bytes: upload.file.size };
  const record = {
    id: documentId,
    ownerId,
    projectId,
    title: upload.fields.title ?? upload.filename ?? "Untitled",
    tags: upload.fields.tags ?? [],
    file: storedFile(upload),
  };
  let document: Document | undefined;
  try {
    const [, [created]] = await batchAsActor(deps.database.http, SYSTEM, (db) => [
      actAs(db, target.actor),
      ...insertDocumentStatements(db, record),
      endUploadIntent(db, { storageKey: upload.key }),
      actAs(db, SYSTEM),
      projectId
        ? confirmProjectStorage(db, { projectId, needBytes: need.bytes, limitBytes: deps.limits.projectQuotaBytes })
        : confirmStorage(db, { ownerId, need, limits: deps.limits.quota }),
    ]).catch((error: unknown) => {
      // The inserts come before the quota check: an owner deleted meanwhile fails them first.
      throw quotaRefusal(error) ?? (isForeignKeyViolation(error) ? ownerGone() : error);
    });
    document = created;
  } catch (error) {
    await discardUpload(deps, upload.key, error);
    throw error;
  }
  // After the commit: nothing to undo (an insert that succeeds returns its row).
  if (!document) throw new Error("insert returned no row");
  await announceVersion(deps, documentId, 1);
  return document;
}

/**
 * A new current version of a document from an upload (POST /documents/{id}/versions), counted
 * against the document's owner whoever uploads: received into storage, then recorded as `actor`
 * on the locked document once `requireUnchanged` holds for it (a change since the caller checked
 * fails it there, 412), with the title and tags changed too when the upload gives them; then
 * `document.uploaded` published. Resolves to the document at its new version. Throws 404 when the
 * document is gone, and what `intakeDocument` throws; nothing stays stored after a failure.
 */
export async function intakeVersion(
  deps: IntakeDeps,
  target: {
    documentId: string;
    actor: Actor;
    ownerId: string;
    /** The document's project, whose quota counts its versions; null for a personal document. */
    projectId: string | null;
    createdBy: string;
    viewer: DocumentChanges["viewer"];
  },
  input: UploadInput & { requireUnchanged: RequireUnchanged },
): Promise<Document> {
  const { documentId: id, ownerId, viewer, projectId } = target;
  const upload = await takeUpload(deps, id, { ownerId, newDocument: false, projectId }, input);
  const project = projectId ? { id: projectId, limitBytes: deps.limits.projectQuotaBytes } : undefined;
  const change = { ownerId, need: { documents: 0, versions: 1 }, actor: target.actor, project };
  const document = await recordOrUndo(deps, upload, change, async (tx) => {
    await lockedForWrite(tx, { id, viewer }, input.requireUnchanged);
    const added = await addVersion(tx, { documentId: id, createdBy: target.createdBy, file: storedFile(upload) });
    if (!added) throw noDocument(id);
    const { title, tags } = upload.fields;
    const renamed =
      title !== undefined || tags !== undefined ? await updateDocument(tx, { id, viewer, title, tags }) : undefined;
    return renamed ?? added.document;
  });
  await announceVersion(deps, id, document.currentVersion);
  return document;
}
