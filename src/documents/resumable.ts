import { parse as parseMediaType } from "content-type";
import { parseDictionary } from "structured-headers";
import { type Actor, batchAsActor, firstRow, READ_ONLY, SYSTEM } from "../db/actor.ts";
import {
  createDocument,
  insertUploadIntent,
  removeUploadIntent,
  type StorageUsageRow,
  selectReadableDocument,
  storageUsageOf,
  storageUsageStatement,
} from "../db/queries/documents.ts";
import {
  beginCompletion,
  insertUpload,
  markCompleted,
  partsOf,
  recordPart,
  removeOpenUpload,
  removeUnfinishedUpload,
  reopenUpload,
  unfinishedUploadsOf,
  uploadById,
} from "../db/queries/uploads.ts";
import type { Document } from "../db/schema/documents.ts";
import type { Upload, UploadPart } from "../db/schema/uploads.ts";
import { toHex } from "../pkg/crypto/digest.ts";
import { ApiError, invalidField } from "../pkg/errors/api-error.ts";
import { RequestBodyError, requestBody } from "../pkg/errors/request-body.ts";
import type { MultipartStorage } from "../pkg/storage/multipart.ts";
import { type AllowedType, checkContentType, essence, isAllowed, kindOf, SNIFF_BYTES } from "./content-types.ts";
import { announceVersion, discardUpload, type IntakeDeps, withinQuota } from "./intake.ts";
import { requireQuota } from "./quota.ts";
import { brokenJoin, edgeFromHex, edgeToHex, textPartEdges } from "./resumable-text.ts";
import { ownerGone } from "./rules.ts";

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

/** The declared type as stored: allowed, and for text UTF-8 (or no charset); else 415. */
function storedType(declared: string): AllowedType {
  const type = essence(declared);
  if (!isAllowed(type)) {
    throw new ApiError("unsupported_media_type", { detail: `${type || "(no type)"} is not accepted` });
  }
  if (kindOf(type) === "text") {
    const charset = parseMediaType(declared).parameters.charset?.toLowerCase();
    if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
      throw new ApiError("unsupported_media_type", {
        detail: `declared charset ${charset}: text is stored and served as UTF-8; send it as UTF-8`,
      });
    }
  }
  return type;
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
  owner: { actor: Actor; ownerId: string },
  declared: DeclaredFile,
  now = new Date(),
): Promise<Upload> {
  const contentType = storedType(declared.contentType);
  if (declared.size > deps.limits.maxBytes) {
    throw new ApiError("payload_too_large", {
      detail: `The file has ${declared.size} bytes; at most ${deps.limits.maxBytes} are accepted.`,
    });
  }
  const [usageResult, unfinished] = await batchAsActor(
    deps.database.http,
    SYSTEM,
    (db) => [
      db.execute<StorageUsageRow>(storageUsageStatement({ ownerId: owner.ownerId })),
      unfinishedUploadsOf(db, { ownerId: owner.ownerId }),
    ],
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
  requireQuota(withPending, deps.limits.quota, { documents: 1, versions: 1, bytes: declared.size });

  const documentId = crypto.randomUUID();
  const key = `documents/${documentId}/${crypto.randomUUID()}`;
  const partCount = Math.max(1, Math.ceil(declared.size / RESUMABLE_PART_BYTES));
  const multipartUploadId = await deps.multipart.create(key, { contentType });
  try {
    const [rows] = await batchAsActor(deps.database.http, owner.actor, (db) => [
      insertUpload(db, {
        ownerId: owner.ownerId,
        documentId,
        storageKey: key,
        multipartUploadId,
        filename: declared.filename ?? null,
        contentType,
        sizeBytes: declared.size,
        sha256: declared.sha256,
        title: declared.title ?? declared.filename ?? "Untitled",
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
    (db) => [uploadById(db, { id, ownerId: ownerOf(actor) }), partsOf(db, { uploadId: id, ownerId: ownerOf(actor) })],
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
 * Reads up to `capacity` bytes of `body` into `buffer` (bytes the runtime writes straight into it:
 * a BYOB reader's `readAtLeast`, where the body offers one), stopping there. Resolves to the buffer (reads
 * transfer it) and how many bytes it holds; a read that fails is a `RequestBodyError`.
 */
async function readInto(
  body: ReadableStream<Uint8Array>,
  buffer: ArrayBuffer,
  capacity: number,
): Promise<{ buffer: ArrayBuffer; filled: number; more: boolean }> {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    byob = undefined;
  }
  let filled = 0;
  let current = buffer;
  if (byob) {
    const reader = byob;
    try {
      while (filled < capacity) {
        // workerd's `readAtLeast` fills the view in one call unless the body ends first.
        const next = await reader.readAtLeast(capacity - filled, new Uint8Array(current, filled, capacity - filled));
        if (!next.value) throw new Error("a BYOB read returned no buffer");
        current = next.value.buffer as ArrayBuffer;
        if (next.done) return { buffer: current, filled, more: false };
        filled += next.value.byteLength;
      }
    } catch (error) {
      await reader.cancel().catch(() => {});
      throw new RequestBodyError(error);
    }
    await reader.cancel().catch(() => {});
    return { buffer: current, filled, more: true };
  }
  const reader = requestBody(body).getReader();
  const view = new Uint8Array(current);
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) return { buffer: current, filled, more: false };
      const take = Math.min(next.value.length, capacity - filled);
      view.set(next.value.subarray(0, take), filled);
      filled += take;
      if (take < next.value.length) break;
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  }
  await reader.cancel().catch(() => {});
  return { buffer: current, filled, more: true };
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
  let read: Awaited<ReturnType<typeof readInto>>;
  try {
    read = await readInto(input.body, takeBuffer(sizes.partBytes + 1), size + 1);
  } catch (error) {
    if (error instanceof RequestBodyError) {
      throw new ApiError("bad_request", { detail: "The request body ended before it was complete.", cause: error });
    }
    throw error;
  }
  const release = () => releaseBuffer(read.buffer);
  if (read.filled > size) {
    release();
    throw tooLong(`more than ${size}`);
  }
  if (read.filled < size) {
    release();
    throw short(read.filled);
  }
  return { bytes: new Uint8Array(read.buffer, 0, size), release };
}

/**
 * Receives part `partNumber` of the upload `id` (the caller's own): exactly its expected size
 * (`expectedPartSize`; 400 for fewer bytes, 413 for more, 400 for a number past the last part),
 * the `Content-Digest` SHA-256 if sent (400 on a mismatch), part 1's first bytes agreeing with the
 * declared type (415), and for text UTF-8 without NUL but for characters cut at its edges (415).
 * Then stored (UploadPart, signed) and recorded, replacing a part of the same number. 404 when
 * there is no such upload for the caller, 409 when it is no longer open. Resolves to the part.
 */
export async function receivePart(
  deps: ResumableDeps,
  actor: Actor,
  target: { id: string; partNumber: number },
  input: PartInput,
): Promise<UploadPart> {
  const { id, partNumber } = target;
  const [rows] = await batchAsActor(
    deps.database.http,
    actor,
    (db) => [uploadById(db, { id, ownerId: ownerOf(actor) })],
    READ_ONLY,
  );
  const upload = firstRow(rows);
  if (!upload) throw noUpload(id);
  if (upload.status !== "open") throw notOpen(upload);
  if (partNumber > upload.partCount) {
    throw invalidField("path", "/partNumber", `upload ${id} has parts 1 to ${upload.partCount}`);
  }
  const size = expectedPartSize(upload, partNumber);
  const stated = declaredDigest(input.contentDigest);
  const read = await readPart(input, { size, partBytes: upload.partBytes }, partNumber);
  try {
    return await storePart(deps, actor, upload, partNumber, read.bytes, stated);
  } finally {
    read.release();
  }
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
    const cut = textPartEdges(part, { first: partNumber === 1, last: partNumber === upload.partCount });
    if (!cut) {
      throw new ApiError("unsupported_media_type", {
        detail: `declared ${upload.contentType}, but part ${partNumber} is not UTF-8 text`,
      });
    }
    edges = { leading: edgeToHex(cut.leading), trailing: edgeToHex(cut.trailing) };
  }
  const etag = await deps.multipart.uploadPart(
    { key: upload.storageKey, uploadId: upload.multipartUploadId },
    partNumber,
    part,
    sha256,
  );
  const recorded = {
    uploadId: id,
    partNumber,
    sizeBytes: size,
    etag,
    sha256,
    leadingBytes: edges.leading,
    trailingBytes: edges.trailing,
  };
  const [result] = await batchAsActor(deps.database.http, actor, (db) => [
    recordPart(db, { ...recorded, ownerId: ownerOf(actor) }),
  ]);
  if (result.rows.length === 0) throw notOpen({ ...upload, status: "completing" });
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
 * Completes the upload `id` (the caller's own) into a new document: every part 1..N recorded (else
 * 409 `conflict` with `missingParts`), the joins of text parts whole UTF-8 characters (415), then
 * the object assembled (CompleteMultipartUpload) under an upload intent and the document recorded
 * under the owner's quota lock (403 `quota_exceeded`) in the transaction that ends the intent and
 * marks the upload completed; then `document.uploaded` published. A completion repeated after it
 * succeeded resolves to the same document (`created` false); one running in another request is a
 * 409. After a failure past the assembly nothing stays stored (`discardUpload`) and the upload is
 * gone: its parts became the removed object.
 */
export async function completeUpload(
  deps: ResumableDeps,
  actor: Actor,
  id: string,
): Promise<{ upload: Upload; document: Document; created: boolean }> {
  const ownerId = ownerOf(actor);
  const [taken, partRows, current] = await batchAsActor(deps.database.http, actor, (db) => [
    beginCompletion(db, { id, ownerId }),
    partsOf(db, { uploadId: id, ownerId }),
    uploadById(db, { id, ownerId }),
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
  try {
    await deps.multipart.complete(
      { key, uploadId: upload.multipartUploadId },
      parts.map((part) => ({ partNumber: part.partNumber, etag: part.etag })),
    );
  } catch (error) {
    // The parts may still be there: the client may complete again.
    await discardUpload(deps, key, error);
    await batchAsActor(deps.database.http, actor, (db) => [reopenUpload(db, { id, ownerId })]).catch(() => {});
    throw error;
  }
  const need = { documents: 1, versions: 1, bytes: upload.sizeBytes };
  let document: Document;
  try {
    document = await withinQuota(
      deps.database,
      deps.limits.quota,
      { ownerId: upload.ownerId, need, actor },
      async (tx) => {
        const created = await createDocument(tx, {
          id: upload.documentId,
          ownerId: upload.ownerId,
          title: upload.title,
          tags: upload.tags,
          file: {
            storageKey: key,
            contentType: upload.contentType,
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
 * Aborts the upload `id` (the caller's own): the multipart upload and its parts are discarded
 * (AbortMultipartUpload), then the upload and its recorded parts removed. 404 when there is no such
 * upload for the caller, 409 when it is completed or being completed.
 */
export async function abortUpload(deps: ResumableDeps, actor: Actor, id: string): Promise<void> {
  const [rows] = await batchAsActor(
    deps.database.http,
    actor,
    (db) => [uploadById(db, { id, ownerId: ownerOf(actor) })],
    READ_ONLY,
  );
  const upload = firstRow(rows);
  if (!upload) throw noUpload(id);
  if (upload.status !== "open") throw notOpen(upload);
  // The store first: a row removed before a failed abort would leave parts nobody can name.
  await deps.multipart.abort({ key: upload.storageKey, uploadId: upload.multipartUploadId });
  const [removed] = await batchAsActor(deps.database.http, actor, (db) => [
    removeOpenUpload(db, { id, ownerId: ownerOf(actor) }),
  ]);
  if (removed.length === 0) throw notOpen({ ...upload, status: "completing" });
}
