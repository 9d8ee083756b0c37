import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import {
  type Actor,
  actAs,
  asActor,
  batchAsActor,
  firstRow,
  READ_ONLY,
  SYSTEM,
  switchActor,
  type Transaction,
} from "../../db/actor.ts";
import { isUncertainCommit } from "../../db/errors.ts";
import {
  accessFrom,
  accessOf,
  addVersion,
  copyContent,
  createDocument,
  deleteShare,
  documentsPage,
  getDocument,
  getVersion,
  insertUploadIntent,
  listShares,
  lockDocument,
  lockShares,
  lockStorageUsage,
  putShare,
  type RenditionFormat,
  recordDocumentChanges,
  removeUploadIntent,
  renditionKey,
  resetVersion,
  type StorageUsageRow,
  selectDocumentAudience,
  selectDocumentsPage,
  selectReadableDocument,
  selectShareAccess,
  selectVersion,
  selectVersions,
  softDeleteDocument,
  storageUsage,
  storageUsageOf,
  storageUsageStatement,
  updateDocument,
} from "../../db/queries/documents.ts";
import { findUserByLogin } from "../../db/queries/users.ts";
import type { Document, DocumentVersion } from "../../db/schema/documents.ts";
import {
  convertImage,
  DecodersBusyError,
  ImageDecodeError,
  ImageTooLargeError,
  MARKDOWN_PAGE_POLICY,
  MARKDOWN_RENDERING,
  MAX_IMAGE_BYTES,
  MAX_MARKDOWN_BYTES,
  markdownToHtml,
  withDecodeSlot,
} from "../../documents/convert.ts";
import {
  contentDisposition,
  downloadName,
  evaluatePreconditions,
  httpDate,
  ifRangeHolds,
  parseRange,
  servedContentType,
  type Validators,
  withLength,
} from "../../documents/download.ts";
import { bytesLeft, type QuotaNeed, quotaExceeded, requireQuota } from "../../documents/quota.ts";
import { RequestBodyError, receiveUpload, uploadFieldErrors } from "../../documents/receive.ts";
import { requireAuth, requirePermission } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { cursorParam, pageOf } from "../../pkg/pagination/cursor.ts";
import { isStorageDeadline, RangeNotSatisfiableError } from "../../pkg/storage/storage.ts";
import { invalidateDocument, invalidateScopes, scopeOf } from "../../search/search-cache.ts";
import {
  ConditionalReadHeaders,
  ConditionalWriteHeaders,
  readPreconditions,
  requireWritePreconditions,
  VALIDATOR_HEADERS,
  validatorHeaders,
  validatorsOf,
} from "../conditional.ts";
import { BEARER, json } from "../openapi.ts";
import { viewerOf } from "../viewer.ts";
import {
  ContentQuery,
  DocumentIdParams,
  DocumentPageSchema,
  DocumentSchema,
  ListDocumentsQuery,
  ShareAcceptedSchema,
  ShareParams,
  ShareRequestSchema,
  ShareSchema,
  toDocumentJson,
  toVersionJson,
  UpdateDocumentSchema,
  UploadBodyDocumentation,
  UploadFieldsSchema,
  UploadQuery,
  VersionParams,
  VersionQuery,
  VersionSchema,
} from "./schemas.ts";

const uploadBody = {
  required: true,
  description:
    "`multipart/form-data` with a `file` part (and `title`, `tags` fields in any order), or the file itself as the body with its own Content-Type (title and tags in the query). The declared type must be allowed and agree with the file's first bytes.",
  content: {
    "multipart/form-data": { schema: UploadBodyDocumentation },
    "*/*": { schema: z.string().min(1).openapi({ format: "binary", description: "The file itself; not empty." }) },
  },
};

const db = (c: Context<AppEnv>) => c.get("services").database.db;
const actorOf = (c: Context<AppEnv>) => c.get("auth").actor;
const notFound = (id: string) => new ApiError("not_found", { detail: `No document ${id}.` });

const http = (c: Context<AppEnv>) => c.get("services").database.http;
const ownerGone = () => new ApiError("not_found", { detail: "The document's owner no longer exists." });
const readOnlyShare = () => new ApiError("forbidden", { detail: "This document is shared with you for reading only." });

/** A document the caller may read; 404 otherwise. One HTTP round trip. */
async function readable(c: Context<AppEnv>, id: string): Promise<Document> {
  const [rows] = await batchAsActor(
    http(c),
    actorOf(c),
    (db) => [selectReadableDocument(db, { id, viewer: viewerOf(c) })],
    READ_ONLY,
  );
  const document = firstRow(rows);
  if (!document) throw notFound(id);
  return document;
}

/**
 * A document the caller may read and one of its versions (`number`, or the current one): one HTTP
 * round trip. 404 if the document cannot be read; `version` undefined if there is no such version.
 */
async function readableVersion(
  c: Context<AppEnv>,
  id: string,
  number: number | undefined,
): Promise<{ document: Document; version: DocumentVersion | undefined }> {
  const [rows, versions] = await batchAsActor(
    http(c),
    actorOf(c),
    (db) => [
      selectReadableDocument(db, { id, viewer: viewerOf(c) }),
      selectVersion(db, { documentId: id, version: number }),
    ],
    READ_ONLY,
  );
  const document = firstRow(rows);
  if (!document) throw notFound(id);
  return { document, version: firstRow(versions) };
}

/**
 * A document the caller may change (owner, write share, admin); 404 if they cannot even read it,
 * 403 if they only read it. One HTTP round trip (the document and the caller's share together).
 */
async function writable(c: Context<AppEnv>, id: string): Promise<Document> {
  const viewer = viewerOf(c);
  const [rows, share] = await batchAsActor(
    http(c),
    actorOf(c),
    (db) => [
      selectReadableDocument(db, { id, viewer }),
      selectShareAccess(db, { documentId: id, userId: viewer.userId }),
    ],
    READ_ONLY,
  );
  const document = firstRow(rows);
  if (!document) throw notFound(id);
  if (accessFrom(document, viewer, firstRow(share)) === "read") throw readOnlyShare();
  return document;
}

/**
 * Whether the request makes its write conditional (RFC 9110 §13.1): then the write must read the
 * row, compare its validators (a hash computed here) and only then write, in one transaction
 * (`asActor`); without, a write whose rule fits in its statement is one HTTP batch.
 */
const conditionalWrite = (c: Context<AppEnv>) =>
  ["if-match", "if-none-match", "if-unmodified-since"].some((name) => c.req.header(name) !== undefined);

/**
 * The validators of a document's metadata (RFC 9110 §8.8): a strong ETag of its JSON
 * representation, which carries `updatedAt` and the current version's state, so every change to
 * the row changes it; and `updatedAt` as Last-Modified.
 */
const documentValidators = (document: Document) => validatorsOf(toDocumentJson(document), document.updatedAt);

/** The document's JSON with its validators, as every response naming the document sends it. */
async function documentBody(document: Document) {
  return { body: toDocumentJson(document), headers: validatorHeaders(await documentValidators(document)) };
}

/**
 * Locks the document in the writing transaction and throws 412 unless the request's If-Match /
 * If-Unmodified-Since hold for it now (404 if it is gone): the check and the write see the same
 * state, and a concurrent writer waits for the lock and then fails its own check.
 */
async function lockedForWrite(c: Context<AppEnv>, tx: Transaction, id: string): Promise<Document> {
  const current = await lockDocument(tx, { id, viewer: viewerOf(c) });
  if (!current) throw notFound(id);
  requireWritePreconditions(c, await documentValidators(current));
  return current;
}

/**
 * Removes what an upload that did not complete may have stored, and its intent. If storage or the
 * database is down too, the intent stays and the sweeper finishes the job. It stays as well when
 * the upload failed because a storage request was abandoned at its deadline (`failure`): that
 * write may still land after this delete, and only the intent leads the sweeper to it. When the
 * commit that recorded the upload was abandoned at its deadline, nothing is undone.
 */
async function discardUpload(c: Context<AppEnv>, key: string, failure: unknown): Promise<void> {
  const { storage, database } = c.get("services");
  if (isUncertainCommit(failure)) {
    // The transaction recording the upload may have committed: its object must stay. If it did
    // not, the intent (removed only by that transaction) leads the sweeper to the object.
    c.get("logger").warn("upload left for the sweeper: its commit is uncertain", { key });
    return;
  }
  const keepIntent = isStorageDeadline(failure);
  await storage
    .delete(key)
    .then(() =>
      keepIntent ? undefined : asActor(database.db, SYSTEM, (tx) => removeUploadIntent(tx, { storageKey: key })),
    )
    .catch((error: unknown) => c.get("logger").warn("upload left for the sweeper", { key, error }));
}

/**
 * Streams an upload to storage under a fresh key, recorded first as an upload intent (so that a
 * failure between storage and database leaves something the sweeper can clean). Returns the file
 * and its validated title and tags. On any failure nothing stays stored.
 */
async function takeUpload(c: Context<AppEnv>, documentId: string, owner: { id: string; newDocument: boolean }) {
  const { config, storage, database } = c.get("services");
  const key = `documents/${documentId}/${crypto.randomUUID()}`;
  // Refused before any byte is stored when the owner is at a quota already; the stream stops
  // where it would pass the bytes left. The check that counts is `withinQuota`'s, when recording.
  // The usage and the intent in one HTTP round trip (Postgres must be up before any byte is
  // stored); a refusal removes the intent again.
  const [usageResult] = await batchAsActor(database.http, SYSTEM, (db) => [
    db.execute<StorageUsageRow>(storageUsageStatement({ ownerId: owner.id })),
    insertUploadIntent(db, { storageKey: key }),
  ]);
  const usage = storageUsageOf(usageResult.rows);
  const quota = config.uploads.quota;
  try {
    if (!usage) throw ownerGone();
    requireQuota(usage, quota, { documents: owner.newDocument ? 1 : 0, versions: 1, bytes: 1 });
  } catch (error) {
    await discardUpload(c, key, error);
    throw error;
  }
  const left = bytesLeft(usage, quota);
  const maxBytes = Math.min(config.uploads.maxBytes, left);
  const tooLarge =
    left < config.uploads.maxBytes
      ? (requested: number) => quotaExceeded("bytes", { limit: quota.bytes, used: usage.bytes, requested })
      : undefined;
  try {
    const received = await receiveUpload(
      storage,
      {
        headers: {
          contentType: c.req.header("content-type"),
          contentLength: c.req.header("content-length"),
          contentDisposition: c.req.header("content-disposition"),
        },
        body: c.req.raw.body,
        query: { title: c.req.query("title"), tags: c.req.query("tags") },
      },
      { key, maxBytes, ...(tooLarge ? { tooLarge } : {}) },
    );
    const fields = UploadFieldsSchema.safeParse(received.fields);
    if (!fields.success) {
      const errors = uploadFieldErrors(fields.error, c.req.header("content-type")?.startsWith("multipart/") ?? false);
      throw new ApiError("validation_failed", {
        detail: errors.map((e) => `${e.in} ${e.pointer}: ${e.message}`).join("; "),
        errors,
      });
    }
    return { key, ...received, fields: fields.data };
  } catch (error) {
    await discardUpload(c, key, error);
    if (error instanceof RequestBodyError) {
      // The client's abort (or broken connection), not our failure: a warning and a 400.
      c.get("logger").warn("upload abandoned: the request body broke off", { key, error });
      throw new ApiError("bad_request", { detail: "The request body ended before it was complete.", cause: error });
    }
    throw error;
  }
}

/**
 * Runs `record`, the change that adds `need` to the owner's usage, as `actor` in one WebSocket
 * transaction that first takes the owner's usage lock and checks the quota as the system (403
 * `quota_exceeded` otherwise, before `record` runs). The lock is held until `record`'s writes
 * commit with it, so of concurrent changes each sees the ones before it: a count-then-insert race
 * cannot let them all pass (OWASP API4:2023). The usage is read as the system, because an editor
 * with a write share adds to an owner whose other documents they cannot see; then the
 * transaction's row-level security is switched to `actor` (`switchActor`) for `record`.
 */
async function withinQuota<T>(
  c: Context<AppEnv>,
  ownerId: string,
  need: QuotaNeed,
  actor: Actor,
  record: (tx: Transaction) => Promise<T>,
): Promise<T> {
  const { quota } = c.get("services").config.uploads;
  return asActor(db(c), SYSTEM, async (tx) => {
    await lockStorageUsage(tx, { ownerId });
    const usage = await storageUsage(tx, { ownerId });
    if (!usage) throw ownerGone();
    requireQuota(usage, quota, need);
    await switchActor(tx, actor);
    return record(tx);
  });
}

/** The version's file as the database records it: where the upload was stored and what it is. */
function storedFile(upload: Awaited<ReturnType<typeof takeUpload>>) {
  const { file } = upload;
  return {
    storageKey: upload.key,
    contentType: file.contentType,
    sizeBytes: file.size,
    sha256: file.sha256,
    filename: upload.filename,
  };
}

/** Runs the database step of an upload; if it fails, the stored object is removed again. */
async function recordOrUndo<T>(c: Context<AppEnv>, key: string, record: () => Promise<T>): Promise<T> {
  try {
    return await record();
  } catch (error) {
    await discardUpload(c, key, error);
    throw error;
  }
}

/**
 * After a committed change: cached search results of everyone who can see the document are made
 * stale before the response, so the caller's next search already reflects the change. Never
 * throws (a cache that is down only leaves entries to their five-minute TTL).
 */
function searchChanged(c: Context<AppEnv>, documentId: string, alsoUsers: string[] = []): Promise<void> {
  const { cache, database } = c.get("services");
  return invalidateDocument({ cache, logger: c.get("logger"), http: database.http }, documentId, alsoUsers);
}

/** As `searchChanged`, for a change whose own batch already read who sees the document. */
function audienceChanged(c: Context<AppEnv>, audience: readonly { id: string }[]): Promise<void> {
  const scopes = audience.map((row) => scopeOf({ userId: row.id, readsAll: false }));
  return invalidateScopes({ cache: c.get("services").cache, logger: c.get("logger") }, [
    ...scopes,
    scopeOf({ userId: "", readsAll: true }),
  ]);
}

/**
 * Publishes `document.uploaded` for a version whose transaction has committed: the event never
 * announces a version that does not exist (yet). A send that fails is logged, not thrown: the
 * version is stored, and the sweeper publishes the event again for versions left pending.
 */
async function announceVersion(c: Context<AppEnv>, documentId: string, documentVersion: number): Promise<void> {
  try {
    await c.get("services").events.publish({
      type: "document.uploaded",
      documentId,
      documentVersion,
      requestId: c.get("requestId"),
    });
  } catch (error) {
    c.get("logger").warn("document.uploaded not sent; the sweeper sends it again", {
      documentId,
      documentVersion,
      error,
    });
  }
}

function servable(version: DocumentVersion): void {
  if (version.status === "quarantined") {
    throw new ApiError("conflict", { detail: "This version was quarantined: it contains malware and is not served." });
  }
  if (version.scanResult !== "clean" && version.scanResult !== "skipped") {
    throw new ApiError("conflict", { detail: `This version is ${version.status} and has not been scanned yet.` });
  }
}

/**
 * Caching of a version's content, its conversions and its thumbnail (RFC 9111). Their bytes never
 * change under their ETag, yet they are never fresh: access can be revoked and a version
 * quarantined after it was served, so each use is revalidated (`no-cache`, §5.2.2.4), which is
 * the access check, and only the caller's own cache keeps them (`private`, §5.2.2.7). A 304 then
 * costs the access check and no object-store request. `immutable` (RFC 8246) would only matter
 * while a response is fresh, so it is not sent. No `Vary` beyond CORS's `Origin`: the URL (version,
 * `format`, `disposition`) selects the representation, never `Accept` (RFC 9110 §12.5.5), and
 * `Authorization` only permits it, which every revalidation checks.
 */
const REVALIDATED = { "Cache-Control": "private, no-cache" };

/**
 * The preconditions of a download (RFC 9110 §13.2.2), after access and state were checked: a
 * failing If-Match or If-Unmodified-Since throws 412; a matching If-None-Match or an unchanged
 * If-Modified-Since returns the 304 to send, with the validators and `cacheHeaders` a 200 would
 * carry (§15.4.5); otherwise undefined.
 */
function preconditions(
  c: Context<AppEnv>,
  validators: Validators,
  cacheHeaders: Record<string, string>,
): Response | undefined {
  const outcome = evaluatePreconditions(
    {
      ifMatch: c.req.header("if-match"),
      ifNoneMatch: c.req.header("if-none-match"),
      ifModifiedSince: c.req.header("if-modified-since"),
      ifUnmodifiedSince: c.req.header("if-unmodified-since"),
    },
    validators,
  );
  if (outcome === "failed") {
    throw new ApiError("precondition_failed", {
      detail: `The current representation (ETag ${validators.etag}, Last-Modified ${httpDate(validators.lastModified)}) does not satisfy If-Match or If-Unmodified-Since.`,
    });
  }
  if (outcome === "not_modified") {
    return c.body(null, 304, {
      ...cacheHeaders,
      ETag: validators.etag,
      "Last-Modified": httpDate(validators.lastModified),
    });
  }
  return undefined;
}

const create = createRoute({
  method: "post",
  path: "/documents",
  tags: ["Documents"],
  summary: "Upload a document",
  description:
    "Streams the file to object storage (multipart upload beyond 8 MiB; never held whole in memory), hashing it on the way; then records the document and publishes `document.uploaded`. Processing (virus scan, text extraction, thumbnail) follows asynchronously: `status` goes pending → scanning → processing → ready, or quarantined / failed. On any failure nothing is left behind.",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { query: UploadQuery, body: uploadBody },
  responses: {
    201: {
      description: "Stored; processing follows. `Location` names the document.",
      headers: { ...VALIDATOR_HEADERS, Location: { description: "The new document.", schema: { type: "string" } } },
      ...json(DocumentSchema),
    },
    ...problemResponses(400, 401, 403, 413, 415, 503),
  },
});

const list = createRoute({
  method: "get",
  path: "/documents",
  tags: ["Documents"],
  summary: "List documents I can read",
  description: "Newest first, keyset-paginated (`nextCursor`); filter by tag, type, status, owner and creation date.",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { query: ListDocumentsQuery },
  responses: { 200: { description: "A page.", ...json(DocumentPageSchema) }, ...problemResponses(400, 401, 503) },
});

const getOne = createRoute({
  method: "get",
  path: "/documents/{id}",
  tags: ["Documents"],
  summary: "A document",
  description:
    "Another user's document that is not shared with you is a 404. Carries a strong `ETag` and `Last-Modified` for conditional writes; `If-None-Match` / `If-Modified-Since` answer 304, a failing `If-Match` / `If-Unmodified-Since` 412.",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { params: DocumentIdParams, headers: ConditionalReadHeaders },
  responses: {
    200: {
      description: "The document, with its `ETag` and `Last-Modified`.",
      headers: VALIDATOR_HEADERS,
      ...json(DocumentSchema),
    },
    304: { description: "Unchanged (If-None-Match, or If-Modified-Since without it).", headers: VALIDATOR_HEADERS },
    ...problemResponses(400, 401, 404, 412, 503),
  },
});

const update = createRoute({
  method: "patch",
  path: "/documents/{id}",
  tags: ["Documents"],
  summary: "Change title or tags",
  description:
    "With `If-Match` (the ETag of `GET /documents/{id}`) or `If-Unmodified-Since`, only if the document has not changed since: otherwise 412 and nothing changes.",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: {
    params: DocumentIdParams,
    headers: ConditionalWriteHeaders,
    body: { required: true, content: { "application/json": { schema: UpdateDocumentSchema } } },
  },
  responses: {
    200: { description: "The document, with its new `ETag`.", headers: VALIDATOR_HEADERS, ...json(DocumentSchema) },
    ...problemResponses(400, 401, 403, 404, 412, 415, 503),
  },
});

const remove = createRoute({
  method: "delete",
  path: "/documents/{id}",
  tags: ["Documents"],
  summary: "Delete a document (its objects are removed)",
  description:
    "The owner or an admin. The row is kept as deleted for a while; every version's object and thumbnail is removed. With `If-Match` or `If-Unmodified-Since`, only if the document has not changed since (412 otherwise).",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { params: DocumentIdParams, headers: ConditionalWriteHeaders },
  responses: { 204: { description: "Deleted." }, ...problemResponses(400, 401, 403, 404, 412, 503) },
});

const newVersion = createRoute({
  method: "post",
  path: "/documents/{id}/versions",
  tags: ["Documents"],
  summary: "Upload a new version",
  description:
    "Same body as an upload; the new version becomes the current one and is processed. Title and tags, if given, change too. With `If-Match` or `If-Unmodified-Since`, only if the document has not changed since: checked before any byte is stored and again when the version is recorded (412 otherwise; nothing stays stored).",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { params: DocumentIdParams, query: UploadQuery, headers: ConditionalWriteHeaders, body: uploadBody },
  responses: {
    201: {
      description: "The document, now at the new version, with its new `ETag`.",
      headers: VALIDATOR_HEADERS,
      ...json(DocumentSchema),
    },
    ...problemResponses(400, 401, 403, 404, 412, 413, 415, 503),
  },
});

const versions = createRoute({
  method: "get",
  path: "/documents/{id}/versions",
  tags: ["Documents"],
  summary: "All versions, newest first",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { params: DocumentIdParams },
  responses: {
    200: { description: "Versions.", ...json(z.object({ data: z.array(VersionSchema) })) },
    ...problemResponses(400, 401, 404, 503),
  },
});

const restore = createRoute({
  method: "post",
  path: "/documents/{id}/versions/{version}/restore",
  tags: ["Documents"],
  summary: "Restore an old version (as a new version)",
  description:
    "Creates a new current version with the old one's content (the stored object is shared, never changed) and processes it again. With `If-Match` or `If-Unmodified-Since`, only if the document has not changed since (412 otherwise).",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { params: VersionParams, headers: ConditionalWriteHeaders },
  responses: {
    201: {
      description: "The document, at the restored version, with its new `ETag`.",
      headers: VALIDATOR_HEADERS,
      ...json(DocumentSchema),
    },
    ...problemResponses(400, 401, 403, 404, 409, 412, 503),
  },
});

const content = createRoute({
  method: "get",
  path: "/documents/{id}/content",
  tags: ["Documents"],
  summary: "Download a version's content (streamed; Range supported)",
  description:
    "Streams the file through the API (access is checked on every request; no URL outlives it), with `Range` for resuming and seeking. Versions not yet scanned, or quarantined, are refused (409). `format=html` converts Markdown, `format=webp|png` converts images. Conditional requests follow RFC 9110 §13: `ETag` (the SHA-256, strong; converted content has its own weak tag) and `Last-Modified` are sent; `If-Match` / `If-Unmodified-Since` that do not hold answer 412, `If-None-Match` (weak comparison, lists and `*`) / `If-Modified-Since` answer 304, and `If-Range` (a strong ETag or the exact date) decides whether `Range` applies. Text is served with `charset=utf-8`.",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { params: DocumentIdParams, query: ContentQuery },
  responses: {
    200: { description: "The content.", content: { "*/*": { schema: z.string().openapi({ format: "binary" }) } } },
    206: {
      description: "The requested range (Content-Range).",
      content: { "*/*": { schema: z.string().openapi({ format: "binary" }) } },
    },
    304: { description: "Unchanged (If-None-Match, or If-Modified-Since without it)." },
    ...problemResponses(400, 401, 404, 409, 412, 416, 422, 503),
  },
});

const thumbnailRoute = createRoute({
  method: "get",
  path: "/documents/{id}/thumbnail",
  tags: ["Documents"],
  summary: "A version's thumbnail (WebP, at most 256 px)",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: {
    params: DocumentIdParams,
    query: VersionQuery,
  },
  responses: {
    200: {
      description: "The thumbnail, with a weak `ETag` and `Last-Modified`.",
      content: { "image/webp": { schema: z.string().openapi({ format: "binary" }) } },
    },
    304: { description: "Unchanged (If-None-Match, or If-Modified-Since without it)." },
    ...problemResponses(400, 401, 404, 412, 503),
  },
});

const SHARES_ETAG = {
  ETag: {
    description: "Strong entity tag of the shares list; send it in If-Match to change the shares conditionally.",
    schema: { type: "string" as const },
  },
};

const shares = createRoute({
  method: "get",
  path: "/documents/{id}/shares",
  tags: ["Documents"],
  summary: "Who the document is shared with (owner or admin)",
  description:
    "With a strong `ETag` of the list (shares keep no modification date, so no Last-Modified), for conditional changes of the shares; `If-None-Match` answers 304.",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { params: DocumentIdParams, headers: ConditionalReadHeaders },
  responses: {
    200: { description: "Shares.", headers: SHARES_ETAG, ...json(z.object({ data: z.array(ShareSchema) })) },
    304: { description: "Unchanged (If-None-Match).", headers: SHARES_ETAG },
    ...problemResponses(400, 401, 403, 404, 412, 503),
  },
});

const share = createRoute({
  method: "put",
  path: "/documents/{id}/shares",
  tags: ["Documents"],
  summary: "Share with a user for reading or writing (owner or admin)",
  description:
    "By email address or username. The answer is the same whether or not that names an active account, and never carries the account's username (OWASP ASVS V2.2 / account enumeration): an address without an account, a disabled account or the owner's own address change nothing. With `If-Match` (the ETag of `GET /documents/{id}/shares`), only if the shares have not changed since: otherwise 412 and nothing changes.",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: {
    params: DocumentIdParams,
    headers: ConditionalWriteHeaders,
    body: { required: true, content: { "application/json": { schema: ShareRequestSchema } } },
  },
  responses: {
    200: {
      description:
        "Taken: the request as understood. The same whether or not the address or username names an active account (nor is its username disclosed); the account, if any, can read or write the document from now on.",
      ...json(ShareAcceptedSchema),
    },
    ...problemResponses(400, 401, 403, 404, 412, 415, 503),
  },
});

const unshare = createRoute({
  method: "delete",
  path: "/documents/{id}/shares/{userId}",
  tags: ["Documents"],
  summary: "Stop sharing with a user (owner or admin; or that user, to leave)",
  description:
    "With `If-Match` (the ETag of `GET /documents/{id}/shares`), only if the shares have not changed since: otherwise 412 and nothing changes.",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { params: ShareParams, headers: ConditionalWriteHeaders },
  responses: { 204: { description: "Not shared any more." }, ...problemResponses(400, 401, 403, 404, 412, 503) },
});

const reprocess = createRoute({
  method: "post",
  path: "/documents/{id}/reprocess",
  tags: ["Documents (admin)"],
  summary: "Run the processing pipeline again for the current version",
  description: "With `If-Match` or `If-Unmodified-Since`, only if the document has not changed since (412 otherwise).",
  security: BEARER,
  middleware: [requirePermission("documents:manage")] as const,
  request: { params: DocumentIdParams, headers: ConditionalWriteHeaders },
  responses: {
    202: {
      description: "Queued; the document is pending again (with its new `ETag`).",
      headers: VALIDATOR_HEADERS,
      ...json(DocumentSchema),
    },
    ...problemResponses(400, 401, 403, 404, 409, 412, 503),
  },
});

async function sharesOf(c: Context<AppEnv>, documentId: string) {
  // Usernames come from the users table, which only staff may read across users.
  const rows = await asActor(db(c), SYSTEM, (tx) => listShares(tx, { documentId }));
  return rows.map((row) => ({ ...row, createdAt: row.createdAt.toISOString() }));
}

async function ownedByCaller(c: Context<AppEnv>, id: string): Promise<Document> {
  const document = await readable(c, id);
  const viewer = viewerOf(c);
  if (document.ownerId !== viewer.userId && !viewer.writesAll) {
    throw new ApiError("forbidden", { detail: "Only the owner or an admin manages sharing." });
  }
  return document;
}

export const documentsRouter = createRouter()
  .openapi(create, async (c) => {
    const id = crypto.randomUUID();
    const ownerId = c.get("auth").userId;
    const upload = await takeUpload(c, id, { id: ownerId, newDocument: true });
    const { file } = upload;
    const need = { documents: 1, versions: 1, bytes: file.size };
    const document = await recordOrUndo(c, upload.key, () =>
      withinQuota(c, ownerId, need, actorOf(c), async (tx) => {
        const { document } = await createDocument(tx, {
          id,
          ownerId,
          title: upload.fields.title ?? upload.filename ?? "Untitled",
          tags: upload.fields.tags ?? [],
          file: storedFile(upload),
        });
        await removeUploadIntent(tx, { storageKey: upload.key });
        return document;
      }),
    );
    await announceVersion(c, id, 1);
    await searchChanged(c, id);
    const { body, headers } = await documentBody(document);
    return c.json(body, 201, { ...headers, Location: `/documents/${id}` });
  })
  .openapi(list, async (c) => {
    const query = c.req.valid("query");
    const after = cursorParam(query.cursor);
    const [rows] = await batchAsActor(
      http(c),
      actorOf(c),
      (db) => [
        selectDocumentsPage(db, {
          viewer: viewerOf(c),
          limit: query.limit,
          tag: query.tag,
          contentType: query.type,
          status: query.status,
          ownerId: query.owner,
          createdFrom: query.createdFrom ? new Date(query.createdFrom) : undefined,
          createdTo: query.createdTo ? new Date(query.createdTo) : undefined,
          after,
        }),
      ],
      READ_ONLY,
    );
    const { page, nextCursor } = pageOf(documentsPage(rows), query.limit);
    return c.json({ data: page.map(toDocumentJson), nextCursor }, 200);
  })
  .openapi(getOne, async (c) => {
    const document = await readable(c, c.req.valid("param").id);
    const validators = await documentValidators(document);
    const notModified = readPreconditions(c, validators);
    if (notModified) return notModified;
    return c.json(toDocumentJson(document), 200, validatorHeaders(validators));
  })
  .openapi(update, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const viewer = viewerOf(c);
    const changes = { id, viewer, title: body.title, tags: body.tags };
    let document: Document | undefined;
    let audience: readonly { id: string }[] | undefined;
    if (conditionalWrite(c)) {
      // Access, then the locked row's validators, then the write: one WebSocket transaction.
      document = await asActor(db(c), actorOf(c), async (tx) => {
        const current = await getDocument(tx, { id, viewer });
        if (!current) throw notFound(id);
        const share = firstRow(await selectShareAccess(tx, { documentId: id, userId: viewer.userId }));
        if (accessFrom(current, viewer, share) === "read") throw readOnlyShare();
        await lockedForWrite(c, tx, id);
        return updateDocument(tx, changes);
      });
    } else {
      // The write states its own access rule; the reads beside it tell a 404 from a 403 when it
      // changed nothing; last, as the system, who sees the document (for the search cache). One
      // HTTP round trip.
      const [found, share, changed, , readers] = await batchAsActor(http(c), actorOf(c), (db) => [
        selectReadableDocument(db, { id, viewer }),
        selectShareAccess(db, { documentId: id, userId: viewer.userId }),
        recordDocumentChanges(db, changes),
        actAs(db, SYSTEM),
        selectDocumentAudience(db, { documentId: id }),
      ]);
      document = firstRow(changed);
      audience = readers;
      const current = firstRow(found);
      if (!document && current && accessFrom(current, viewer, firstRow(share)) === "read") throw readOnlyShare();
    }
    if (!document) throw notFound(id);
    await (audience ? audienceChanged(c, audience) : searchChanged(c, id));
    const response = await documentBody(document);
    return c.json(response.body, 200, response.headers);
  })
  .openapi(remove, async (c) => {
    const { id } = c.req.valid("param");
    const document = await readable(c, id);
    const viewer = viewerOf(c);
    if (document.ownerId !== viewer.userId && !viewer.writesAll) {
      throw new ApiError("forbidden", { detail: "Only the owner or an admin deletes a document." });
    }
    const objects = await asActor(db(c), actorOf(c), async (tx) => {
      await lockedForWrite(c, tx, id);
      return softDeleteDocument(tx, { id, viewer });
    });
    if (!objects) throw notFound(id);
    const { storage, thumbnails, background } = c.get("services");
    // The content goes now; if storage is down, the sweeper removes it when it purges the row.
    background("removing a deleted document's objects", () =>
      Promise.all([storage.deleteMany(objects.objects), thumbnails.deleteMany(objects.thumbnails)]),
    );
    await searchChanged(c, id);
    return c.body(null, 204);
  })
  .openapi(newVersion, async (c) => {
    const { id } = c.req.valid("param");
    // Checked before any byte is stored, and again under the lock when the version is recorded
    // (a change meanwhile fails it there, and the stored object is removed).
    const before = await writable(c, id);
    requireWritePreconditions(c, await documentValidators(before));
    // Counted against the document's owner, whoever uploads.
    const upload = await takeUpload(c, id, { id: before.ownerId, newDocument: false });
    const { file } = upload;
    const need = { documents: 0, versions: 1, bytes: file.size };
    const document = await recordOrUndo(c, upload.key, () =>
      withinQuota(c, before.ownerId, need, actorOf(c), async (tx) => {
        await lockedForWrite(c, tx, id);
        const added = await addVersion(tx, {
          documentId: id,
          createdBy: c.get("auth").userId,
          file: storedFile(upload),
        });
        if (!added) throw notFound(id);
        await removeUploadIntent(tx, { storageKey: upload.key });
        const renamed =
          upload.fields.title !== undefined || upload.fields.tags !== undefined
            ? await updateDocument(tx, {
                id,
                viewer: viewerOf(c),
                title: upload.fields.title,
                tags: upload.fields.tags,
              })
            : undefined;
        return renamed ?? added.document;
      }),
    );
    await announceVersion(c, id, document.currentVersion);
    await searchChanged(c, id);
    const response = await documentBody(document);
    return c.json(response.body, 201, { ...response.headers, Location: `/documents/${id}` });
  })
  .openapi(versions, async (c) => {
    const { id } = c.req.valid("param");
    const [found, rows] = await batchAsActor(
      http(c),
      actorOf(c),
      (db) => [selectReadableDocument(db, { id, viewer: viewerOf(c) }), selectVersions(db, { documentId: id })],
      READ_ONLY,
    );
    if (!firstRow(found)) throw notFound(id);
    // The operator's detail of a failure is for administrators only (OWASP API8:2023).
    const actor = actorOf(c);
    const detail = actor.kind === "user" && actor.role === "admin";
    return c.json({ data: rows.map((row) => toVersionJson(row, { detail })) }, 200);
  })
  .openapi(restore, async (c) => {
    const { id, version } = c.req.valid("param");
    const before = await writable(c, id);
    const viewer = viewerOf(c);
    // As the system, because copying the old version's text is staff-only; the access rule of
    // `writable` is applied again on the locked row, in this transaction.
    const restored = await withinQuota(
      c,
      before.ownerId,
      { documents: 0, versions: 1, bytes: 0 },
      SYSTEM,
      async (tx) => {
        const current = await lockDocument(tx, { id, viewer });
        if (!current) throw notFound(id);
        if ((await accessOf(tx, { document: current, viewer })) === "read") {
          throw new ApiError("forbidden", { detail: "This document is shared with you for reading only." });
        }
        const old = await getVersion(tx, { documentId: id, version });
        if (!old) throw new ApiError("not_found", { detail: `No version ${version} of ${id}.` });
        if (old.status === "quarantined")
          throw new ApiError("conflict", { detail: "A quarantined version cannot be restored." });
        // After the checks above: a request that fails for another reason ignores its
        // preconditions (RFC 9110 §13.2.1).
        requireWritePreconditions(c, await documentValidators(current));
        // A version processed clean is not processed again (OWASP API4:2023): the object is the
        // same, so its scan, text and thumbnail are too. Any other (in progress, failed, or not
        // scanned because scanning was off) goes through the pipeline.
        const done = old.status === "ready" && old.scanResult === "clean";
        const added = await addVersion(tx, {
          documentId: id,
          createdBy: c.get("auth").userId,
          restoredFrom: version,
          file: {
            storageKey: old.storageKey,
            contentType: old.contentType,
            sizeBytes: old.sizeBytes,
            sha256: old.sha256,
            filename: old.filename,
          },
          processed: done
            ? { scanResult: "clean", thumbnailKey: old.thumbnailKey, processedAt: old.processedAt }
            : undefined,
        });
        if (!added) throw notFound(id);
        if (done) await copyContent(tx, { documentId: id, from: version, to: added.version.version });
        return { document: added.document, done };
      },
    );
    const { document } = restored;
    if (!restored.done) await announceVersion(c, id, document.currentVersion);
    await searchChanged(c, id);
    const response = await documentBody(document);
    return c.json(response.body, 201, response.headers);
  })
  .openapi(content, async (c) => {
    const { id } = c.req.valid("param");
    const query = c.req.valid("query");
    const { document, version } = await readableVersion(c, id, query.version);
    const number = query.version ?? document.currentVersion;
    if (!version) throw new ApiError("not_found", { detail: `No version ${number} of ${id}.` });
    servable(version);
    const { storage } = c.get("services");
    const name = downloadName(version.filename, document.title, version.contentType);

    if (query.format !== "original") {
      return converted(c, document, version, name, query.format, query.disposition);
    }
    const validators = { etag: `"${version.sha256}"`, lastModified: version.createdAt };
    const cacheHeaders = REVALIDATED;
    const notModified = preconditions(c, validators, cacheHeaders);
    if (notModified) return notModified;
    const common = {
      ...cacheHeaders,
      ETag: validators.etag,
      "Last-Modified": httpDate(validators.lastModified),
      "Accept-Ranges": "bytes",
      "Content-Disposition": contentDisposition(name, version.contentType, query.disposition),
    };
    const ifRange = c.req.header("if-range");
    // A date validates If-Range only if the representation cannot have changed twice in that
    // second (RFC 9110 §8.8.2.2): a named version never changes; the current one changed when the
    // version before it was replaced, so that must lie in an earlier second.
    const dateIsStrong = async () => {
      if (query.version !== undefined || version.version === 1) return true;
      const before = await asActor(db(c), actorOf(c), (tx) =>
        getVersion(tx, { documentId: id, version: version.version - 1 }),
      );
      return !before || Math.floor(before.createdAt.getTime() / 1000) < Math.floor(version.createdAt.getTime() / 1000);
    };
    const rangeHeader = c.req.header("range");
    let rangeApplies = ifRangeHolds(ifRange, validators, false);
    if (!rangeApplies && rangeHeader !== undefined && ifRangeHolds(ifRange, validators, true)) {
      rangeApplies = await dateIsStrong();
    }
    const range = rangeApplies ? parseRange(rangeHeader, version.sizeBytes) : undefined;
    if (range === "unsatisfiable") {
      throw new ApiError("range_not_satisfiable", { headers: { "Content-Range": `bytes */${version.sizeBytes}` } });
    }
    let object: Awaited<ReturnType<typeof storage.get>>;
    try {
      object = await storage.get(version.storageKey, range ? { range } : {});
    } catch (error) {
      if (error instanceof RangeNotSatisfiableError) {
        throw new ApiError("range_not_satisfiable", { headers: { "Content-Range": `bytes */${error.size}` } });
      }
      throw error;
    }
    if (!object)
      throw new ApiError("service_unavailable", { detail: "The stored content is missing; it is being looked into." });
    const headers = { ...common, "Content-Type": servedContentType(version.contentType) };
    if (object.range) {
      const length = object.range.end - object.range.start + 1;
      return c.body(withLength(object.body, length), 206, {
        ...headers,
        "Content-Range": `bytes ${object.range.start}-${object.range.end}/${object.range.total}`,
        "Content-Length": String(length),
      });
    }
    return c.body(withLength(object.body, version.sizeBytes), 200, {
      ...headers,
      "Content-Length": String(version.sizeBytes),
    });
  })
  .openapi(thumbnailRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { version } = await readableVersion(c, id, c.req.valid("query").version);
    if (!version?.thumbnailKey || version.status === "quarantined") {
      throw new ApiError("not_found", { detail: "No thumbnail for this version." });
    }
    // Made from the version's bytes when it was processed (again on reprocessing, maybe by a newer
    // encoder): the tag is weak, the date that of the processing.
    const validators = {
      etag: `W/"thumbnail-${version.sha256}"`,
      lastModified: version.processedAt ?? version.updatedAt,
    };
    const cacheHeaders = REVALIDATED;
    const notModified = preconditions(c, validators, cacheHeaders);
    if (notModified) return notModified;
    const object = await c.get("services").thumbnails.get(version.thumbnailKey);
    if (!object) throw new ApiError("not_found", { detail: "No thumbnail for this version." });
    return c.body(withLength(object.body, object.size), 200, {
      ...cacheHeaders,
      "Content-Type": "image/webp",
      "Content-Length": String(object.size),
      ETag: validators.etag,
      "Last-Modified": httpDate(validators.lastModified),
    });
  })
  .openapi(shares, async (c) => {
    const { id } = c.req.valid("param");
    await ownedByCaller(c, id);
    const body = { data: await sharesOf(c, id) };
    const validators = await validatorsOf(body);
    const notModified = readPreconditions(c, validators);
    if (notModified) return notModified;
    return c.json(body, 200, validatorHeaders(validators));
  })
  .openapi(share, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const document = await ownedByCaller(c, id);
    const found = await asActor(db(c), SYSTEM, (tx) => findUserByLogin(tx, { login: body.user }));
    // Whether the login names an active account other than the owner is never told (ASVS V2.2,
    // enumeration): every path below takes the same steps and gives the same answer.
    const target = found?.status === "active" && found.id !== document.ownerId ? found : undefined;
    await asActor(db(c), actorOf(c), async (tx) => {
      await lockShares(tx, { documentId: id });
      requireWritePreconditions(c, await validatorsOf({ data: await sharesOf(c, id) }));
      if (target) {
        await putShare(tx, { documentId: id, userId: target.id, access: body.access, grantedBy: c.get("auth").userId });
      }
    });
    // Invalidated either way, so that the two paths also take about the same time.
    await searchChanged(c, id, target ? [target.id] : []);
    return c.json({ user: body.user, access: body.access }, 200);
  })
  .openapi(unshare, async (c) => {
    const { id, userId } = c.req.valid("param");
    const document = await readable(c, id);
    const viewer = viewerOf(c);
    const allowed = document.ownerId === viewer.userId || viewer.writesAll || userId === viewer.userId;
    // As PUT answers: someone who can read the document but does not manage it is told so.
    if (!allowed)
      throw new ApiError("forbidden", { detail: "Only the owner or an admin manages sharing; you may only leave." });
    const removed = await asActor(db(c), actorOf(c), async (tx) => {
      await lockShares(tx, { documentId: id });
      // The list as the owner sees it (usernames are read as the system, committed: every change
      // of shares holds the lock taken above). A share that is not there is a 404 whatever the
      // preconditions say (RFC 9110 §13.2.1).
      const list = await sharesOf(c, id);
      if (!list.some((entry) => entry.userId === userId)) return false;
      requireWritePreconditions(c, await validatorsOf({ data: list }));
      return deleteShare(tx, { documentId: id, userId });
    });
    if (!removed) throw new ApiError("not_found", { detail: `No share of ${id} with ${userId}.` });
    await searchChanged(c, id, [userId]);
    return c.body(null, 204);
  })
  .openapi(reprocess, async (c) => {
    const { id } = c.req.valid("param");
    // The middleware checked documents:manage; the reset runs as the system, since an operator
    // need not be able to write the document themselves.
    const anyDocument = { userId: c.get("auth").userId, readsAll: true };
    const document = await asActor(db(c), SYSTEM, async (tx) => {
      const found = await lockDocument(tx, { id, viewer: anyDocument });
      if (!found) throw notFound(id);
      if (found.status === "quarantined") {
        throw new ApiError("conflict", { detail: "A quarantined version is not processed again." });
      }
      requireWritePreconditions(c, await documentValidators(found));
      if (!(await resetVersion(tx, { documentId: id, version: found.currentVersion }))) {
        throw new ApiError("conflict", { detail: "The current version cannot be processed again now." });
      }
      return getDocument(tx, { id, viewer: anyDocument });
    });
    if (!document) throw notFound(id);
    await announceVersion(c, id, document.currentVersion);
    await searchChanged(c, id);
    const response = await documentBody(document);
    return c.json(response.body, 202, response.headers);
  });

/**
 * Converted content: Markdown to HTML, or an image to WebP / PNG. Its ETag is weak (the bytes
 * depend on the converter's version) and names the format; the HTML page also carries the title,
 * so its tag and date follow a rename. Conditional requests are answered before converting.
 */
async function converted(
  c: Context<AppEnv>,
  document: Document,
  version: DocumentVersion,
  name: string,
  format: "html" | "webp" | "png",
  disposition: "attachment" | "inline",
): Promise<Response> {
  const unavailable = () =>
    new ApiError("validation_failed", {
      detail: `query /format: ${format} is not available for ${version.contentType}`,
      errors: [{ in: "query", pointer: "/format", message: `not available for ${version.contentType}` }],
    });
  const isImage = version.contentType.startsWith("image/");
  if ((format === "html" && version.contentType !== "text/markdown") || (format !== "html" && !isImage))
    throw unavailable();
  // The request has no body: a limit of the conversion is no 413 (RFC 9110 §15.5.14) but content
  // that cannot be processed as asked (§15.5.21).
  const maxBytes = format === "html" ? MAX_MARKDOWN_BYTES : MAX_IMAGE_BYTES;
  if (version.sizeBytes > maxBytes) {
    throw new ApiError("unprocessable_content", {
      detail: `Conversion to ${format} handles files up to ${maxBytes} bytes; this one has ${version.sizeBytes}.`,
    });
  }
  const { title } = document;
  let tag = `${version.sha256}.${format}`;
  let lastModified = version.createdAt;
  if (format === "html") {
    const titleHash = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(title)));
    tag += `.${Array.from(titleHash.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("")}.r${MARKDOWN_RENDERING}`;
    if (document.updatedAt > lastModified) lastModified = document.updatedAt;
  }
  const validators = { etag: `W/"${tag}"`, lastModified };
  const cacheHeaders = REVALIDATED;
  const notModified = preconditions(c, validators, cacheHeaders);
  if (notModified) return notModified;
  const common = { ...cacheHeaders, ETag: validators.etag, "Last-Modified": httpDate(lastModified) };

  const base = name.replace(/\.[^.]+$/, "");
  if (format !== "html") {
    const type = format === "webp" ? "image/webp" : "image/png";
    const image = await rendition(c, document.id, version, format);
    const body = image.body instanceof Uint8Array ? image.body : withLength(image.body, image.size);
    return c.body(body, 200, {
      ...common,
      "Content-Length": String(image.size),
      "Content-Type": type,
      "Content-Disposition": contentDisposition(`${base}.${format}`, type, disposition),
    });
  }
  const object = await c.get("services").storage.get(version.storageKey);
  if (!object) throw new ApiError("service_unavailable", { detail: "The stored content is missing." });
  const bytes = new Uint8Array(await new Response(object.body).arrayBuffer());
  // As bytes, so that the length is known and sent (a string body goes out without it).
  const html = await markdownToHtml(new TextDecoder().decode(bytes), title);
  const page = new Uint8Array(new TextEncoder().encode(html));
  return c.body(page, 200, {
    ...common,
    "Content-Length": String(page.byteLength),
    "Content-Type": servedContentType("text/html"),
    "Content-Disposition": contentDisposition(`${base}.html`, "text/html", disposition),
    "Content-Security-Policy": MARKDOWN_PAGE_POLICY,
  });
}

/**
 * An image version's rendition in `format`, from the thumbnails bucket; made and stored there on
 * the first request, in one of the isolate's conversion slots, so an image is decoded once per
 * format rather than on every request (OWASP API4:2023). 503 when every slot stays busy; 422 when
 * the image is too large to decode or not an image.
 */
async function rendition(
  c: Context<AppEnv>,
  documentId: string,
  version: DocumentVersion,
  format: RenditionFormat,
): Promise<{ body: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer>; size: number }> {
  const { storage, thumbnails } = c.get("services");
  const key = renditionKey(documentId, version.sha256, format);
  const stored = await thumbnails.get(key);
  if (stored) return stored;
  let made: Uint8Array<ArrayBuffer>;
  try {
    made = await withDecodeSlot(async () => {
      // Another request may have made it while this one waited for the slot.
      const meanwhile = await thumbnails.get(key);
      if (meanwhile) return new Uint8Array(await new Response(meanwhile.body).arrayBuffer());
      const object = await storage.get(version.storageKey);
      if (!object) throw new ApiError("service_unavailable", { detail: "The stored content is missing." });
      const bytes = new Uint8Array(await new Response(object.body).arrayBuffer());
      const image = await convertImage(bytes, format);
      await thumbnails.put(key, image, { contentLength: image.byteLength, contentType: `image/${format}` });
      return image;
    });
  } catch (error) {
    if (error instanceof DecodersBusyError) {
      throw new ApiError("service_unavailable", {
        detail: "Image conversion is busy; try again shortly.",
        headers: { "Retry-After": "1" },
      });
    }
    if (error instanceof ImageTooLargeError)
      throw new ApiError("unprocessable_content", { detail: `${error.message}.` });
    if (error instanceof ImageDecodeError) {
      // The decoder's own words are for operators (OWASP API8:2023); the client gets ours.
      c.get("logger").warn("image not decodable", { documentId, error: error.message });
      throw new ApiError("unprocessable_content", {
        detail: "The image could not be decoded: it is damaged or not what it claims to be.",
      });
    }
    throw error;
  }
  return { body: made, size: made.byteLength };
}
