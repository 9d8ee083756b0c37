import { parse as parseMediaType } from "content-type";
import { parseDictionary } from "structured-headers";
import { type Actor, batchAsActor, firstRow, READ_ONLY, SYSTEM } from "../db/actor.ts";
import {
  createDocument,
  insertUploadIntent,
  projectStorageOf,
  projectStorageStatement,
  removeUploadIntent,
  type StorageUsageRow,
  selectReadableDocument,
  storageUsageOf,
  storageUsageStatement,
} from "../db/queries/documents.ts";
import {
  beginCompletion,
  closeForAbort,
  forgetParts,
  insertUpload,
  markCompleted,
  projectWritableStatement,
  recordPart,
  removeAbortedUpload,
  removeUnfinishedUpload,
  reopenUpload,
  unfinishedUploadsOf,
  uploadById,
  uploadPartsOf,
} from "../db/queries/uploads.ts";
import type { Document } from "../db/schema/documents.ts";
import type { Upload, UploadPart } from "../db/schema/uploads.ts";
import { toHex } from "../pkg/crypto/digest.ts";
import { ApiError, invalidField } from "../pkg/errors/api-error.ts";
import { RequestBodyError } from "../pkg/errors/request-body.ts";
import { InvalidPartError, type MultipartStorage, NoSuchUploadError } from "../pkg/storage/multipart.ts";
import { byteSource, isStorageDeadline } from "../pkg/storage/storage.ts";
import { noProject } from "../projects/rules.ts";
import { type AllowedType, checkContentType, essence, isAllowed, kindOf, SNIFF_BYTES } from "./content-types.ts";
import { announceVersion, discardUpload, type IntakeDeps, withinQuota } from "./intake.ts";
import { projectQuotaExceeded, requireQuota } from "./quota.ts";
import { baseName } from "./receive.ts";
import { brokenJoin, edgeFromHex, edgeToHex, textPartEdges } from "./resumable-text.ts";
import { ownerGone } from "./rules.ts";
import { isUtf8Compatible } from "./text-checks.ts";
import { withUploadRoom } from "./upload-gate.ts";

// Resumable uploads: an S3 multipart upload driven through the API. The client declares the file
// (type, size, SHA-256), sends fixed-size parts in any order and as often as it needs (a part sent
// again replaces the earlier one), lists what arrived after a cut, and completes; the document is
// then recorded as an upload through POST /documents is (src/documents/intake.ts), and the
// processor checks the stored object against the declared SHA-256 like any other.

/**
 * Bytes of every part but the last (5 MiB, as `PART_BYTES` of POST /documents). Fixed by the
 * server: R2 wants equal parts but the last, S3 at least 5 MiB per part and at most 10,000 parts
 * (S3 API, "Amazon S3 multipart upload limits"; 50 GiB, far above `MAX_UPLOAD_BYTES`). A part
 * request holds its part in memory to hash it and sign its payload (SigV4), so the smallest part
 * S3 allows is the least memory per request in an isolate's 128 MB, and the least to send again
 * after a cut.
 */
export const RESUMABLE_PART_BYTES = 5 * 1024 * 1024;

/** The most parts an upload may have (S3's limit). */
export const MAX_PARTS = 10_000;

/** How long an upload takes parts before the sweeper aborts it (24 hours, in ms). */
export const UPLOAD_LIFETIME_MS = 24 * 60 * 60 * 1000;

/** What the resumable upload talks to: the upload saga's services and the multipart store of the documents bucket. */
export interface ResumableDeps extends IntakeDeps {
  multipart: MultipartStorage;
}

/** The file a client declares when it creates an upload. */
export interface DeclaredFile {
  /** The media type, with parameters as sent (`text/plain; charset=utf-8`). */
  contentType: string;
  /** The whole file's length in bytes. */
  size: number;
  /** The whole file's SHA-256, 64 lower-case hex digits. */
  sha256: string;
  filename?: string | undefined;
  title?: string | undefined;
  tags?: string[] | undefined;
}

/** An upload with the parts received so far (number order). */
export interface UploadState {
  upload: Upload;
  parts: UploadPart[];
}

/** Bytes part `partNumber` of `upload` must have: `partBytes`, the last the remainder. */
export function expectedPartSize(upload: Pick<Upload, "sizeBytes" | "partBytes" | "partCount">, partNumber: number) {
  return partNumber < upload.partCount
    ? upload.partBytes
    : upload.sizeBytes - (upload.partCount - 1) * upload.partBytes;
}

/** The user an actor is: the owner every upload query states (a system actor owns none). */
const ownerOf = (actor: Actor) => (actor.kind === "user" ? actor.userId : "00000000-0000-0000-0000-000000000000");

const noUpload = (id: string) => new ApiError("not_found", { detail: `No upload ${id}.` });

const notOpen = (upload: Upload) =>
  new ApiError("conflict", {
    detail:
      upload.status === "completed"
        ? `Upload ${upload.id} is completed: it is document ${upload.documentId}.`
        : `Upload ${upload.id} is being completed; it takes no parts now.`,
  });

/** The declared type as stored (its essence: text is stored and served as UTF-8): allowed, else 415. */
function storedType(declared: string): AllowedType {
  const type = essence(declared);
  if (!isAllowed(type)) {
    throw new ApiError("unsupported_media_type", { detail: `${type || "(no type)"} is not accepted` });
  }
  return type;
}

/**
 * The declared charset when it is not UTF-8 as it stands (`isUtf8Compatible`): then only ASCII
 * means the same in UTF-8, as for POST /documents (src/documents/upload.ts).
 */
function foreignCharset(declared: string): string | undefined {
  const charset = parseMediaType(declared).parameters.charset?.toLowerCase();
  return isUtf8Compatible(charset) ? undefined : charset;
}

/** The caller's upload `id` as the database has it now (one read-only HTTP batch), or undefined. */
async function readOwnUpload(
  deps: Pick<IntakeDeps, "database">,
  actor: Actor,
  id: string,
): Promise<Upload | undefined> {
  const [rows] = await batchAsActor(
    deps.database.http,
    actor,
    (db) => [uploadById(db, { id, ownerId: ownerOf(actor) })],
    READ_ONLY,
  );
  return firstRow(rows);
}

/**
 * The caller's upload `id`, open for parts or an abort: 404 when there is none for the caller
 * (gone, or past its `expiresAt`), 409 when it is completed or being completed.
 */
async function ownedOpenUpload(deps: Pick<IntakeDeps, "database">, actor: Actor, id: string): Promise<Upload> {
  const upload = await readOwnUpload(deps, actor, id);
  if (!upload) throw noUpload(id);
  if (upload.status !== "open") throw notOpen(upload);
  return upload;
}

/**
 * Throws 403 `quota_exceeded` unless `size` more bytes, one more document and version fit the
 * owner's quotas, with their unfinished personal uploads counted as documents of their declared
 * size; 404 when the owner is gone. One round trip, not under the owner's lock (completion checks
 * again under it).
 */
async function requireOwnerRoom(deps: ResumableDeps, ownerId: string, size: number): Promise<void> {
  const [usageResult, unfinished] = await batchAsActor(
    deps.database.http,
    SYSTEM,
    (db) => [db.execute<StorageUsageRow>(storageUsageStatement({ ownerId })), unfinishedUploadsOf(db, { ownerId })],
    READ_ONLY,
  );
  const usage = storageUsageOf(usageResult.rows);
  if (!usage) throw ownerGone();
  // Parts in flight are stored bytes too (and would be documents): counted as if completed, so
  // open uploads cannot hold more than the quotas allow (OWASP API4:2023).
  const pending = { uploads: Number(unfinished[0]?.uploads ?? 0), bytes: Number(unfinished[0]?.bytes ?? 0) };
  const withPending = {
    ...usage,
    documents: usage.documents + pending.uploads,
    versions: usage.versions + pending.uploads,
    bytes: usage.bytes + pending.bytes,
  };
  requireQuota(withPending, deps.limits.quota, { documents: 1, versions: 1, bytes: size });
}

/**
 * `requireOwnerRoom` for an upload filed in a project: 413 (`projectQuotaExceeded`) unless `size`
 * more bytes fit `PROJECT_QUOTA_BYTES` with the project's unfinished uploads counted; 404 when the
 * project is gone.
 */
async function requireProjectRoom(deps: ResumableDeps, projectId: string, size: number): Promise<void> {
  const [usageResult, unfinished] = await batchAsActor(
    deps.database.http,
    SYSTEM,
    (db) => [
      db.execute<{ documents: string; bytes: string }>(projectStorageStatement({ projectId })),
      unfinishedUploadsOf(db, { projectId }),
    ],
    READ_ONLY,
  );
  const usage = projectStorageOf(usageResult.rows);
  if (!usage) throw noProject(projectId);
  const used = usage.bytes + Number(unfinished[0]?.bytes ?? 0);
  const limit = deps.limits.projectQuotaBytes;
  if (used + size > limit) throw projectQuotaExceeded({ limit, used, requested: size });
}

/**
 * Starts a resumable upload of a new document owned by `owner`: checks the declared type (415),
 * size (413 past `MAX_UPLOAD_BYTES`) and the owner's quotas with their unfinished uploads counted
 * as documents of their declared size (403 `quota_exceeded`; not under the owner's lock, so two
 * creations at once may both pass: the check that counts runs under it on completion), starts the
 * multipart upload and records it, open for `UPLOAD_LIFETIME_MS`. Throws `DependencyError` (503)
 * when storage or Postgres is down; a multipart upload started for a row that could not be written
 * is aborted again.
 */
export async function createUpload(
  deps: ResumableDeps,
  owner: { actor: Actor; ownerId: string; projectId?: string | undefined },
  declared: DeclaredFile,
  now = new Date(),
): Promise<Upload> {
  const contentType = storedType(declared.contentType);
  // As POST /documents stores a form part's filename (RFC 7578 §4.2: no directory components).
  const filename = baseName(declared.filename);
  // Kept with the type: text in another charset is taken only as ASCII (checked part by part).
  const charset = kindOf(contentType) === "text" ? foreignCharset(declared.contentType) : undefined;
  if (declared.size > deps.limits.maxBytes) {
    throw new ApiError("payload_too_large", {
      detail: `The file has ${declared.size} bytes; at most ${deps.limits.maxBytes} are accepted.`,
    });
  }
  if (owner.projectId) await requireProjectRoom(deps, owner.projectId, declared.size);
  else await requireOwnerRoom(deps, owner.ownerId, declared.size);

  const documentId = crypto.randomUUID();
  const key = `documents/${documentId}/${crypto.randomUUID()}`;
  const partCount = Math.max(1, Math.ceil(declared.size / RESUMABLE_PART_BYTES));
  const multipartUploadId = await deps.multipart.create(key, { contentType });
  try {
    const [rows] = await batchAsActor(deps.database.http, owner.actor, (db) => [
      insertUpload(db, {
        ownerId: owner.ownerId,
        projectId: owner.projectId ?? null,
        documentId,
        storageKey: key,
        multipartUploadId,
        filename,
        contentType: charset === undefined ? contentType : `${contentType}; charset=${charset}`,
        sizeBytes: declared.size,
        sha256: declared.sha256,
        title: declared.title ?? filename ?? "Untitled",
        tags: declared.tags ?? [],
        partBytes: RESUMABLE_PART_BYTES,
        partCount,
        expiresAt: new Date(now.getTime() + UPLOAD_LIFETIME_MS),
      }),
    ]);
    const upload = firstRow(rows);
    if (!upload) throw new Error("insert returned no row");
    return upload;
  } catch (error) {
    await deps.multipart
      .abort({ key, uploadId: multipartUploadId })
      .catch((abortError: unknown) => deps.logger.warn("multipart upload left behind", { key, error: abortError }));
    throw error;
  }
}

/** The upload and its parts as `actor` sees them (its owner only); 404 otherwise. */
export async function describeUpload(deps: Pick<IntakeDeps, "database">, actor: Actor, id: string) {
  const [uploadRows, parts] = await batchAsActor(
    deps.database.http,
    actor,
    (db) => [
      uploadById(db, { id, ownerId: ownerOf(actor) }),
      uploadPartsOf(db, { uploadId: id, ownerId: ownerOf(actor) }),
    ],
    READ_ONLY,
  );
  const upload = firstRow(uploadRows);
  if (!upload) throw noUpload(id);
  return { upload, parts: parts.map((row) => row.part) } satisfies UploadState;
}

/** A part as the request brings it. */
export interface PartInput {
  body: ReadableStream<Uint8Array> | null;
  /** `Content-Length`, as sent. */
  contentLength?: string | undefined;
  /** `Content-Digest` (RFC 9530), as sent. */
  contentDigest?: string | undefined;
}

/**
 * The SHA-256 a `Content-Digest` field (RFC 9530 §2, a Structured Fields dictionary, RFC 9651)
 * states, or undefined when it states none (other algorithms are ignored, §3); 400 when it is
 * malformed.
 */
function declaredDigest(field: string | undefined): string | undefined {
  if (field === undefined) return undefined;
  let dictionary: ReturnType<typeof parseDictionary>;
  try {
    dictionary = parseDictionary(field);
  } catch {
    throw invalidField("header", "/content-digest", "not a Structured Fields dictionary (RFC 9530 §2)");
  }
  const member = dictionary.get("sha-256");
  if (member === undefined) return undefined;
  const [value] = member;
  if (!(value instanceof ArrayBuffer) || value.byteLength !== 32) {
    throw invalidField("header", "/content-digest", "sha-256 must be a byte sequence of 32 bytes");
  }
  return toHex(value);
}

// Part buffers kept for the next part request of the isolate: a part is read into one buffer
// (`partBytes` + 1, the extra byte tells a body that is too long), and buffers of that size are
// reused rather than left to the collector, a part at a time.
const spareBuffers: ArrayBuffer[] = [];
const SPARE_BUFFERS = 2;

function takeBuffer(bytes: number): ArrayBuffer {
  const index = spareBuffers.findIndex((buffer) => buffer.byteLength === bytes);
  return index >= 0 ? (spareBuffers.splice(index, 1)[0] ?? new ArrayBuffer(bytes)) : new ArrayBuffer(bytes);
}

function releaseBuffer(buffer: ArrayBuffer): void {
  if (!buffer.detached && spareBuffers.length < SPARE_BUFFERS) spareBuffers.push(buffer);
}

/** A part read into a buffer of `takeBuffer`: `bytes` views it; `release` hands the buffer back. */
interface ReadPart {
  bytes: Uint8Array;
  release(): void;
}

/**
 * Reads exactly `size` bytes of the part's body (into a buffer of `partBytes` + 1): 413 as soon as
 * it passes them (reading stops), 400 naming both sizes when it ends short, 400 when it breaks off.
 */
async function readPart(
  input: PartInput,
  sizes: { size: number; partBytes: number },
  partNumber: number,
): Promise<ReadPart> {
  const { size } = sizes;
  const short = (received: number) =>
    invalidField("body", "", `part ${partNumber} must have ${size} bytes; ${received} were received`);
  const tooLong = (received: string) =>
    new ApiError("payload_too_large", {
      detail: `Part ${partNumber} must have ${size} bytes; ${received} were sent.`,
    });
  if (input.contentLength !== undefined && /^\d+$/.test(input.contentLength)) {
    const declared = Number(input.contentLength);
    if (declared > size) throw tooLong(input.contentLength);
    if (declared < size) throw short(declared);
  }
  if (!input.body) throw short(0);
  // One byte more than the part tells a body that is too long; reading stops there.
  const source = byteSource(input.body, (error) => new RequestBodyError(error));
  let read: Uint8Array;
  try {
    read = await source.readInto(new Uint8Array(takeBuffer(sizes.partBytes + 1), 0, size + 1), size + 1);
  } catch (error) {
    if (error instanceof RequestBodyError) {
      throw new ApiError("bad_request", { detail: "The request body ended before it was complete.", cause: error });
    }
    throw error;
  } finally {
    await source.cancel();
  }
  const buffer = read.buffer as ArrayBuffer;
  const release = () => releaseBuffer(buffer);
  if (read.length > size) {
    release();
    throw tooLong(`more than ${size}`);
  }
  if (read.length < size) {
    release();
    throw short(read.length);
  }
  return { bytes: read, release };
}

/**
 * Receives part `partNumber` of the upload `id` (the caller's own): exactly its expected size
 * (`expectedPartSize`; 400 for fewer bytes, 413 for more, 400 for a number past the last part),
 * the `Content-Digest` SHA-256 if sent (400 on a mismatch), part 1's first bytes agreeing with the
 * declared type (415), and for text UTF-8 without NUL but for characters cut at its edges (415).
 * Then stored (UploadPart, signed) and recorded, replacing a part of the same number. The part is
 * read in the isolate's upload gate (`partBytes` of `uploadGate`; 503 with Retry-After when it
 * stays full). 404 when there is no such upload for the caller (or it is past its `expiresAt`, or
 * was aborted meanwhile), 409 when it is no longer open. Resolves to the part.
 */
export async function receivePart(
  deps: ResumableDeps,
  actor: Actor,
  target: { id: string; partNumber: number },
  input: PartInput,
): Promise<UploadPart> {
  const { id, partNumber } = target;
  const upload = await ownedOpenUpload(deps, actor, id);
  if (partNumber > upload.partCount) {
    throw invalidField("path", "/partNumber", `upload ${id} has parts 1 to ${upload.partCount}`);
  }
  const size = expectedPartSize(upload, partNumber);
  const stated = declaredDigest(input.contentDigest);
  return withUploadRoom(upload.partBytes, async () => {
    const read = await readPart(input, { size, partBytes: upload.partBytes }, partNumber);
    try {
      return await storePart(deps, actor, upload, partNumber, read.bytes, stated);
    } finally {
      read.release();
    }
  });
}

/** Checks a part read whole (digest, type, text) and stores and records it; see `receivePart`. */
async function storePart(
  deps: ResumableDeps,
  actor: Actor,
  upload: Upload,
  partNumber: number,
  part: Uint8Array,
  stated: string | undefined,
): Promise<UploadPart> {
  const id = upload.id;
  const size = part.length;
  const sha256 = toHex(await crypto.subtle.digest("SHA-256", part));
  if (stated !== undefined && stated !== sha256) {
    throw invalidField("header", "/content-digest", `the part's SHA-256 is ${sha256}, not ${stated}`);
  }
  if (partNumber === 1) {
    const check = await checkContentType(
      upload.contentType,
      part.subarray(0, SNIFF_BYTES),
      upload.filename ?? undefined,
    );
    if (!check.ok) throw new ApiError("unsupported_media_type", { detail: check.reason });
  }
  let edges = { leading: "", trailing: "" };
  if (kindOf(storedType(upload.contentType)) === "text") {
    const charset = foreignCharset(upload.contentType);
    if (charset !== undefined && part.some((byte) => byte > 0x7f)) {
      throw new ApiError("unsupported_media_type", {
        detail: `declared charset ${charset}: text is stored and served as UTF-8; send it as UTF-8`,
      });
    }
    const cut = textPartEdges(part, { first: partNumber === 1, last: partNumber === upload.partCount });
    if (!cut) {
      throw new ApiError("unsupported_media_type", {
        detail: `declared ${upload.contentType}, but part ${partNumber} is not UTF-8 text`,
      });
    }
    edges = { leading: edgeToHex(cut.leading), trailing: edgeToHex(cut.trailing) };
  }
  let etag: string;
  try {
    etag = await deps.multipart.uploadPart(
      { key: upload.storageKey, uploadId: upload.multipartUploadId },
      partNumber,
      part,
      sha256,
    );
  } catch (error) {
    if (!(error instanceof NoSuchUploadError)) throw error;
    // Aborted (DELETE, the sweeper) or assembled by a completion while this part was on its way.
    const now = await readOwnUpload(deps, actor, id);
    if (!now) throw noUpload(id);
    throw new ApiError("conflict", {
      detail: `Upload ${id} takes no more parts: its parts were assembled or discarded. Complete it, or start a new upload.`,
      cause: error,
    });
  }
  const recorded = {
    uploadId: id,
    partNumber,
    sizeBytes: size,
    etag,
    sha256,
    leadingBytes: edges.leading,
    trailingBytes: edges.trailing,
  };
  const [result, current] = await batchAsActor(deps.database.http, actor, (db) => [
    recordPart(db, { ...recorded, ownerId: ownerOf(actor) }),
    uploadById(db, { id, ownerId: ownerOf(actor) }),
  ]);
  if (result.rows.length === 0) {
    // Taken meanwhile by a completion, an abort, or its expiry.
    const now = firstRow(current);
    throw now ? notOpen(now) : noUpload(id);
  }
  const now = new Date();
  return { ...recorded, createdAt: now, updatedAt: now };
}

/** The caller's document `id` as recorded (for a repeated completion). */
async function recordedDocument(deps: Pick<IntakeDeps, "database">, actor: Actor, upload: Upload): Promise<Document> {
  const userId = actor.kind === "user" ? actor.userId : "";
  const [rows] = await batchAsActor(
    deps.database.http,
    actor,
    (db) => [selectReadableDocument(db, { id: upload.documentId, viewer: { userId, readsAll: false } })],
    READ_ONLY,
  );
  const document = firstRow(rows);
  if (!document) throw new ApiError("not_found", { detail: `Document ${upload.documentId} no longer exists.` });
  return document;
}

/** Part numbers 1..count that `parts` lacks. */
function missingParts(count: number, parts: readonly UploadPart[]): number[] {
  const have = new Set(parts.map((part) => part.partNumber));
  const missing: number[] = [];
  for (let n = 1; n <= count; n += 1) if (!have.has(n)) missing.push(n);
  return missing;
}

/**
 * Assembles the object of a completion that holds `upload` (`completing`, its upload intent
 * recorded) from `parts` (CompleteMultipartUpload). Resolves once the object is there: assembled
 * now, or by an earlier completion whose answer was lost (the store has no such upload any more,
 * and the object has the declared size). Otherwise the upload is given back (`open`) and this
 * throws: the store's `DependencyError` (503; after a deadline the object and its intent stay, as
 * the assembly may have happened: a later completion finds it), or a 409 naming the parts to send
 * again when the store refused their ETags (two PUTs of one part raced), or a 409 to start again
 * when the store has neither the upload nor its object (the upload is removed).
 */
async function assemble(
  deps: ResumableDeps,
  completion: { actor: Actor; upload: Upload; parts: readonly UploadPart[] },
): Promise<void> {
  const { actor, upload, parts } = completion;
  const { id, storageKey: key } = upload;
  const ownerId = ownerOf(actor);
  const target = { key, uploadId: upload.multipartUploadId };
  const reopen = () =>
    batchAsActor(deps.database.http, actor, (db) => [reopenUpload(db, { id, ownerId })]).catch((error: unknown) =>
      deps.logger.warn("upload left completing until its lease ends", { id, error }),
    );
  try {
    await deps.multipart.complete(
      target,
      parts.map((part) => ({ partNumber: part.partNumber, etag: part.etag })),
    );
    return;
  } catch (error) {
    if (error instanceof NoSuchUploadError) {
      const stored = await deps.storage.head(key).catch(async (headError: unknown) => {
        await reopen();
        throw headError;
      });
      if (stored && stored.size === upload.sizeBytes) return;
      await discardUpload(deps, key, error);
      await batchAsActor(deps.database.http, actor, (db) => [removeUnfinishedUpload(db, { id, ownerId })]);
      throw new ApiError("conflict", {
        detail: `Upload ${id} can no longer be completed: the store has discarded its parts. Start a new upload.`,
        cause: error,
      });
    }
    if (isStorageDeadline(error)) {
      // The store may have assembled the object after all: it stays, and so does its intent (the
      // sweeper's lead to it should no completion record it). A later completion finds it above.
      deps.logger.warn("multipart completion past its deadline: the object may exist", { id, key });
      await reopen();
      throw error;
    }
    // Nothing was assembled.
    await discardUpload(deps, key, error);
    if (!(error instanceof InvalidPartError)) {
      await reopen();
      throw error;
    }
    const listed = await deps.multipart.listParts(target).catch(() => null);
    const held = new Map((listed ?? []).map((part) => [part.partNumber, part.etag]));
    const stale = parts.filter((part) => held.get(part.partNumber) !== part.etag).map((part) => part.partNumber);
    // Forgotten, so the client sees them missing and sends them again; all of them if the store could not tell.
    const resend = stale.length > 0 ? stale : parts.map((part) => part.partNumber);
    await batchAsActor(deps.database.http, actor, (db) => [
      forgetParts(db, { uploadId: id, partNumbers: resend }),
      reopenUpload(db, { id, ownerId }),
    ]);
    throw new ApiError("conflict", {
      detail: `The store holds other bytes for part(s) ${resend.join(", ")} of upload ${id} than were recorded (sent twice at once?); send them again.`,
      extensions: { missingParts: resend },
      cause: error,
    });
  }
}

/**
 * Completes the upload `id` (the caller's own) into a new document: every part 1..N recorded (else
 * 409 `conflict` with `missingParts`), the joins of text parts whole UTF-8 characters (415), then
 * the object assembled (CompleteMultipartUpload) under an upload intent and the document recorded
 * under the owner's quota lock (403 `quota_exceeded`) in the transaction that ends the intent and
 * marks the upload completed; then `document.uploaded` published. A completion repeated after it
 * succeeded resolves to the same document (`created` false); one running in another request is a
 * 409. An upload past its `expiresAt` is a 404. The assembly's failures are `assemble`'s. After a
 * failure past the assembly nothing stays stored (`discardUpload`) and the upload is gone: its parts
 * became the removed object.
 */
export async function completeUpload(
  deps: ResumableDeps,
  actor: Actor,
  id: string,
): Promise<{ upload: Upload; document: Document; created: boolean }> {
  const ownerId = ownerOf(actor);
  const [taken, partRows, current, project] = await batchAsActor(deps.database.http, actor, (db) => [
    beginCompletion(db, { id, ownerId }),
    uploadPartsOf(db, { uploadId: id, ownerId }),
    uploadById(db, { id, ownerId }),
    db.execute<{ writable: boolean; archived: boolean | null }>(projectWritableStatement({ id, ownerId })),
  ]);
  const parts = partRows.map((row) => row.part);
  const upload = firstRow(taken);
  if (!upload) {
    const existing = firstRow(current);
    if (!existing) throw noUpload(id);
    if (existing.status === "completed") {
      return { upload: existing, document: await recordedDocument(deps, actor, existing), created: false };
    }
    throw notOpen(existing);
  }
  const giveBack = async (error: ApiError) => {
    await batchAsActor(deps.database.http, actor, (db) => [reopenUpload(db, { id, ownerId })]);
    return error;
  };
  // Filed in a project the caller no longer writes in: refused before anything is assembled, the
  // upload kept open (an archive can be undone; access can be given again).
  const facts = project.rows[0];
  if (upload.projectId && facts && !facts.writable) {
    throw await giveBack(
      facts.archived
        ? new ApiError("conflict", {
            detail: `The project ${upload.projectId} is archived; unarchive it, then complete.`,
          })
        : new ApiError("not_found", { detail: `No project ${upload.projectId} you may file documents in.` }),
    );
  }
  const missing = missingParts(upload.partCount, parts);
  if (missing.length > 0) {
    throw await giveBack(
      new ApiError("conflict", {
        detail: `Upload ${id} lacks part(s) ${missing.join(", ")} of ${upload.partCount}.`,
        extensions: { missingParts: missing },
      }),
    );
  }
  if (kindOf(storedType(upload.contentType)) === "text") {
    const broken = brokenJoin(
      parts.map((part) => ({ leading: edgeFromHex(part.leadingBytes), trailing: edgeFromHex(part.trailingBytes) })),
    );
    if (broken !== undefined) {
      throw await giveBack(
        new ApiError("unsupported_media_type", {
          detail: `parts ${broken} and ${broken + 1} do not join into UTF-8 text; send them again`,
        }),
      );
    }
  }

  const key = upload.storageKey;
  await batchAsActor(deps.database.http, SYSTEM, (db) => [insertUploadIntent(db, { storageKey: key })]);
  await assemble(deps, { actor, upload, parts });
  const need = { documents: 1, versions: 1, bytes: upload.sizeBytes };
  let document: Document;
  try {
    const project = upload.projectId ? { id: upload.projectId, limitBytes: deps.limits.projectQuotaBytes } : undefined;
    document = await withinQuota(
      deps.database,
      deps.limits.quota,
      { ownerId: upload.ownerId, need, actor, project },
      async (tx) => {
        const created = await createDocument(tx, {
          id: upload.documentId,
          ownerId: upload.ownerId,
          projectId: upload.projectId,
          title: upload.title,
          tags: upload.tags,
          file: {
            storageKey: key,
            contentType: storedType(upload.contentType),
            sizeBytes: upload.sizeBytes,
            sha256: upload.sha256,
            filename: upload.filename,
          },
        });
        await removeUploadIntent(tx, { storageKey: key });
        await markCompleted(tx, { id, ownerId });
        return created.document;
      },
    );
  } catch (error) {
    await discardUpload(deps, key, error);
    // The parts are now the removed object: nothing is left to complete.
    await batchAsActor(deps.database.http, actor, (db) => [removeUnfinishedUpload(db, { id, ownerId })]).catch(
      (removeError: unknown) => deps.logger.warn("upload row left for the sweeper", { id, error: removeError }),
    );
    throw error;
  }
  await announceVersion(deps, upload.documentId, 1);
  const completedAt = new Date();
  return { upload: { ...upload, status: "completed", completedAt, updatedAt: completedAt }, document, created: true };
}

/**
 * Aborts the upload `id` (the caller's own): first closed in one conditional statement (it expires
 * now: no part or completion takes it from then on), then its multipart upload and parts discarded
 * (AbortMultipartUpload), then the upload and its recorded parts removed. 404 when there is no such
 * upload for the caller, 409 when it is completed or being completed. When the store fails
 * (`DependencyError`, 503) the upload stays closed and the sweeper finishes the abort.
 */
export async function abortUpload(deps: ResumableDeps, actor: Actor, id: string): Promise<void> {
  const ownerId = ownerOf(actor);
  const [closed, current] = await batchAsActor(deps.database.http, actor, (db) => [
    closeForAbort(db, { id, ownerId }),
    uploadById(db, { id, ownerId }),
  ]);
  const upload = firstRow(closed);
  if (!upload) {
    const existing = firstRow(current);
    if (!existing) throw noUpload(id);
    throw notOpen(existing);
  }
  await deps.multipart.abort({ key: upload.storageKey, uploadId: upload.multipartUploadId });
  // None removed: the sweeper came first, which is as good.
  await batchAsActor(deps.database.http, actor, (db) => [removeAbortedUpload(db, { id, ownerId })]);
}
