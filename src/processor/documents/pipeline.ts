import { asActor, batchAsActor, READ_ONLY, SYSTEM, type Transaction } from "../../db/actor.ts";
import { serverError } from "../../db/errors.ts";
import {
  getDocumentForProcessing,
  getVersion,
  noteRetry,
  selectDocumentsForProcessing,
  selectVersionsByKey,
  startExtractions,
  transitionVersion,
  transitionVersionsStatements,
  type VersionChange,
  type VersionChangeWithContent,
} from "../../db/queries/documents.ts";
import {
  type Document,
  type DocumentVersion,
  type FailureReason,
  TRANSIENT_STATUSES,
} from "../../db/schema/documents.ts";
import {
  ImageDecodeError,
  ImageTooLargeError,
  MAX_IMAGE_BYTES,
  thumbnail,
  withDecodeSlot,
} from "../../documents/convert.ts";
import {
  type ExtractedText,
  ExtractionError,
  extractText,
  MAX_BINARY_SOURCE_BYTES,
  readAtMost,
} from "../../documents/extract-text.ts";
import type { Logger } from "../../pkg/logger/logger.ts";
import type { DocumentUploaded } from "../../pkg/queue/events.ts";
import { hashingStream } from "../../pkg/storage/hashing.ts";
import { type Context, contextWith, inSpan, startSpan, traceHeaders } from "../../pkg/tracing/tracing.ts";
import { ScanRefusedError } from "../../pkg/virus-scan/clamd.ts";
import { invalidateDocument, invalidateDocuments } from "../../search/search-cache.ts";
import { forEachBounded } from "../bounded.ts";
import type { ProcessorServices, StepResult } from "../context.ts";
import { notifyOutcome, notifyOutcomes } from "./notify.ts";

/**
 * The Worker Service's pipeline for one version of a document:
 *
 *   pending → scanning   (Validation + Virus Scan: the stored object is streamed through SHA-256
 *                         and clamd; it must match what the upload recorded)
 *   scanning → processing | quarantined
 *   processing → ready   (Index: extracted text stored where search reads it; Thumbnail; Notify)
 *   any transient → failed, with a reason code users see and the detail operators read
 *
 * Each step starts from the status the version is in, and every transition is conditional on the
 * status it leaves, so a message delivered twice (or twice at once) repeats no finished step and
 * changes nothing the first delivery did. What an ending makes visible (the owner's notification,
 * stale cached searches) follows the committed transition, never precedes it; the notification's
 * id is derived from the ending itself, so the Notification Service stores it once however often,
 * and by whom, it is sent.
 */

interface Target {
  document: Document;
  version: DocumentVersion;
}

const system = <T>(services: ProcessorServices, work: (tx: Transaction) => Promise<T>) =>
  asActor(services.database.db, SYSTEM, work);

async function load(services: ProcessorServices, documentId: string, version: number): Promise<Target | undefined> {
  return system(services, async (tx) => {
    const document = await getDocumentForProcessing(tx, { id: documentId });
    const row = document && (await getVersion(tx, { documentId, version }));
    return document && row ? { document, version: row } : undefined;
  });
}

/**
 * A transition, with the document's other fields carried by `transitionVersion`. Only a
 * transition that really happened is announced: a version that ends (ready, quarantined, failed)
 * makes cached search results stale and tells the owner, after the change is committed. If the
 * announcement fails the message is retried, and the redelivery announces the same ending again
 * (`announceEnded`).
 */
async function move(
  services: ProcessorServices,
  requestId: string,
  target: Target,
  change: Omit<VersionChange, "documentId" | "version">,
) {
  const moved = await system(services, (tx) =>
    transitionVersion(tx, { documentId: target.document.id, version: target.version.version, ...change }),
  );
  if (moved) await announceEnded(services, requestId, target.document, moved);
  return moved;
}

/** What a committed ending makes visible outside: stale cached searches, and the owner's notification. */
async function announceEnded(
  services: ProcessorServices,
  requestId: string,
  document: Document,
  version: DocumentVersion,
): Promise<void> {
  if ((TRANSIENT_STATUSES as readonly string[]).includes(version.status)) return;
  await invalidateDocument({ ...services, http: services.database.http }, document.id);
  await notifyOutcome(services, requestId, document, version);
}

/**
 * Ends a version `failed` with the stable `reason` users see and the `detail` only operators read
 * (logged here, kept in `failure_detail`); the owner is told once the change is committed.
 */
async function fail(
  services: ProcessorServices,
  requestId: string,
  target: Target,
  reason: FailureReason,
  detail: string,
): Promise<StepResult> {
  const moved = await move(services, requestId, target, {
    from: TRANSIENT_STATUSES,
    to: "failed",
    failureReason: reason,
    failureDetail: detail,
  });
  if (moved) services.logger.warn("version failed", { documentId: target.document.id, reason, detail });
  return { outcome: "done", note: moved ? `failed: ${reason}: ${detail}` : "already ended elsewhere" };
}

/** One message of a queue batch, as the pipeline takes it. */
export interface BatchItem {
  event: DocumentUploaded;
  attempts: number;
  /** The message's own logger (request id, event id, message id). */
  logger: Logger;
  /** The message's consumer span, in the upload's trace: the parent of this version's steps. */
  context?: Context;
}

/** What a scan found; a transient failure throws instead. */
type Verdict =
  | { kind: "clean"; scanResult: "clean" | "skipped" }
  | { kind: "infected"; signature: string }
  | { kind: "failed"; reason: FailureReason; detail: string };

/**
 * One version of the batch and where its processing stands. Messages naming the same version
 * share one `Work` (a duplicate delivery within the batch does the work once).
 */
interface Work {
  items: BatchItem[];
  requestId: string;
  logger: Logger;
  target?: Target;
  /** Set once this version needs nothing more in this batch. */
  result?: StepResult;
  /** The stored object, when small enough to be read once for hash, scan and extraction. */
  kept?: Uint8Array;
  verdict?: Verdict;
  content?: ExtractedText;
  thumbnailKey?: string | null;
  /** An ending to fail the version with (found while extracting). */
  failure?: { reason: FailureReason; detail: string };
  /** A final status this batch committed or found, to announce (cache, owner) at the end. */
  ended?: DocumentVersion;
}

/** Scans of one batch at once: each streams (or holds at most KEEP_OBJECT_BYTES); clamd serves several. */
export const SCAN_CONCURRENCY = 6;
/** Extractions of one batch at once, and the bytes of their sources held at once (a PDF is held whole). */
export const EXTRACTION_CONCURRENCY = 4;
export const EXTRACTION_BUDGET_BYTES = 32 * 1024 * 1024;
/** An object up to this size is read from S3 once (hash, scan, extraction, thumbnail) ... */
export const KEEP_OBJECT_BYTES = 1024 * 1024;
/** ... while the batch keeps at most this much of such objects at once; larger ones are read twice. */
export const KEEP_BUDGET_BYTES = 16 * 1024 * 1024;
/** Extracted text waiting for its `ready` transaction, in characters, before it is committed. */
export const READY_FLUSH_CHARS = 4_000_000;

const active = (work: Work): work is Work & { target: Target } => work.target !== undefined && !work.result;

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

const order = (a: Work, b: Work) =>
  (a.target?.document.id ?? "").localeCompare(b.target?.document.id ?? "") ||
  (a.target?.version.version ?? 0) - (b.target?.version.version ?? 0);

/**
 * Runs `step` for every work in ONE transaction (one session), in the order of their documents' ids,
 * so that two batches locking the same documents lock them in the same order. If that transaction
 * fails, each work runs again in a transaction of its own, so a work whose statement keeps failing
 * (a poisoned message) cannot fail the others; `step` must be safe to run twice, since a commit
 * that got no answer may have happened (`isUncertainCommit`). Resolves to each work's value or error.
 */
async function inOneTransaction<W extends Work, T>(
  services: ProcessorServices,
  works: readonly W[],
  step: (tx: Transaction, work: W) => Promise<T>,
): Promise<Map<W, { value: T } | { error: unknown }>> {
  const results = new Map<W, { value: T } | { error: unknown }>();
  if (works.length === 0) return results;
  const sorted = [...works].sort(order);
  try {
    const values = await system(services, async (tx) => {
      const out: T[] = [];
      for (const work of sorted) out.push(await step(tx, work));
      return out;
    });
    sorted.forEach((work, i) => {
      results.set(work, { value: values[i] as T });
    });
    return results;
  } catch (error) {
    if (sorted.length === 1) {
      results.set(sorted[0] as W, { error });
      return results;
    }
    services.logger.warn("batch transaction failed; each message on its own", { error, versions: sorted.length });
  }
  await Promise.all(
    sorted.map(async (work) => {
      try {
        results.set(work, { value: await system(services, (tx) => step(tx, work)) });
      } catch (error) {
        results.set(work, { error });
      }
    }),
  );
  return results;
}

/** What `transitionAll` plans for one version: a change, and/or counting a start of its extraction. */
interface Plan {
  change?: Omit<VersionChangeWithContent, "documentId" | "version">;
  startExtraction?: boolean;
}

/** What `transitionAll` did for one version: the version as it is after, whether it moved, its starts. */
interface Transitioned {
  version: DocumentVersion | undefined;
  moved: boolean;
  starts: number | undefined;
}

/**
 * Applies the plans of every work in ONE `batchAsActor` batch (one HTTP round trip, one transaction):
 * the documents locked, every change in one statement (`transitionVersionsStatements`), the
 * versions read back, the extraction starts counted (`startExtractions`, only of versions with no
 * start counted yet). Resolves to each work's outcome or error:
 *   - Postgres refused a statement (its answer carries a SQLSTATE): the transaction was rolled back,
 *     so nothing of it happened, and each work runs again in a batch of its own: a work whose
 *     statement keeps failing (a poisoned message) fails alone, and no change is made twice.
 *   - No answer (a deadline, a network failure, an endpoint error without SQLSTATE): the batch may
 *     have committed, so nothing runs again; every work gets the error (the caller retries its
 *     message, and the redelivery starts from the status it finds).
 */
async function transitionAll<W extends Work & { target: Target }>(
  services: ProcessorServices,
  works: readonly W[],
  plan: (work: W) => Plan,
): Promise<Map<W, { value: Transitioned } | { error: unknown }>> {
  const results = new Map<W, { value: Transitioned } | { error: unknown }>();
  const keyOfWork = (work: W) => ({ documentId: work.target.document.id, version: work.target.version.version });
  const run = async (group: readonly W[]) => {
    const plans = group.map(plan);
    const changes = group.flatMap((work, i) => {
      const change = plans[i]?.change;
      return change ? [{ ...keyOfWork(work), ...change }] : [];
    });
    const startKeys = group.filter((_, i) => plans[i]?.startExtraction).map(keyOfWork);
    const [, movedRows, versions, started] = await batchAsActor(services.database.http, SYSTEM, (db) => [
      ...transitionVersionsStatements(db, changes),
      selectVersionsByKey(db, { keys: group.map(keyOfWork) }),
      startExtractions(db, { keys: startKeys, unstarted: true }),
    ]);
    const moved = new Set(movedRows.rows.map((row) => keyOf(row.document_id, row.version)));
    const byKey = new Map(versions.map((row) => [keyOf(row.documentId, row.version), row]));
    const starts = new Map(started.map((row) => [keyOf(row.documentId, row.version), row.starts]));
    for (const work of group) {
      const key = keyOf(work.target.document.id, work.target.version.version);
      results.set(work, { value: { version: byKey.get(key), moved: moved.has(key), starts: starts.get(key) } });
    }
  };
  if (works.length === 0) return results;
  try {
    await run(works);
    return results;
  } catch (error) {
    if (works.length === 1 || serverError(error) === undefined) {
      for (const work of works) results.set(work, { error });
      return results;
    }
    services.logger.warn("batch transition refused; each message on its own", { error, versions: works.length });
  }
  await Promise.all(
    works.map(async (work) => {
      try {
        await run([work]);
      } catch (error) {
        results.set(work, { error });
      }
    }),
  );
  return results;
}

/** A transient failure of this work: retried, its detail kept on the version (`noteRetry`, at the end). */
function retry(work: Work, error: unknown) {
  work.logger.warn("step failed", { error });
  work.result = { outcome: "retry", reason: errorText(error) };
}

/** A committed (or found) version: its status is the work's new state, and an ending is announced. */
function moved(work: Work & { target: Target }, version: DocumentVersion) {
  work.target = { ...work.target, version };
  if (!(TRANSIENT_STATUSES as readonly string[]).includes(version.status)) work.ended = version;
}

/** Loads every target in one HTTP round trip; a failure of that read falls back to one load per version. */
async function loadAll(services: ProcessorServices, works: readonly Work[]): Promise<void> {
  const keys = works.map((work) => ({ documentId: work.items[0]?.event.documentId ?? "", version: versionOf(work) }));
  let found: Map<string, Target> | undefined;
  try {
    const [documentRows, versionRows] = await batchAsActor(
      services.database.http,
      SYSTEM,
      (db) => [
        selectDocumentsForProcessing(db, { ids: [...new Set(keys.map((key) => key.documentId))] }),
        selectVersionsByKey(db, { keys }),
      ],
      READ_ONLY,
    );
    const byId = new Map(documentRows.map((row) => [row.id, row]));
    found = new Map();
    for (const row of versionRows) {
      const document = byId.get(row.documentId);
      if (document) found.set(keyOf(row.documentId, row.version), { document, version: row });
    }
  } catch (error) {
    services.logger.warn("batch load failed; each message on its own", { error });
  }
  await Promise.all(
    works.map(async (work) => {
      const { documentId, documentVersion } = work.items[0]?.event ?? { documentId: "", documentVersion: 0 };
      try {
        const target = found
          ? found.get(keyOf(documentId, documentVersion))
          : await load(services, documentId, documentVersion);
        if (!target || target.document.deletedAt) work.result = { outcome: "done", note: "document no longer exists" };
        else work.target = target;
      } catch (error) {
        retry(work, error);
      }
    }),
  );
}

const keyOf = (documentId: string, version: number) => `${documentId}:${version}`;
const versionOf = (work: Work) => work.items[0]?.event.documentVersion ?? 0;

/**
 * Validation and virus scan of one version: one pass over the stored object, through SHA-256 and
 * clamd. A small object is read whole (and kept for extraction while the batch's budget allows).
 */
async function scan(
  services: ProcessorServices,
  work: Work & { target: Target },
  keep: () => boolean,
): Promise<Verdict> {
  const { version } = work.target;
  const object = await services.storage.get(version.storageKey);
  if (!object) return { kind: "failed", reason: "processing_failed", detail: "the stored object is missing" };
  let source = object.body;
  if (version.sizeBytes <= KEEP_OBJECT_BYTES && keep()) {
    // One byte more than recorded: a longer object must still fail the size check below.
    const { bytes } = await readAtMost(object.body, version.sizeBytes + 1);
    work.kept = bytes;
    source = new Response(bytes).body as ReadableStream<Uint8Array>;
  }
  const hash = hashingStream();
  const body = source.pipeThrough(hash.stream);
  let infectedWith: string | undefined;
  if (services.scanner) {
    try {
      const verdict = await services.scanner.scan(body);
      if (verdict.infected) infectedWith = verdict.signature;
    } catch (error) {
      if (error instanceof ScanRefusedError) return { kind: "failed", reason: "file_too_large", detail: error.message };
      throw error;
    }
  } else {
    // Not scanned (by configuration), but still read whole to validate it.
    await body.pipeTo(new WritableStream());
  }
  const { sha256, bytes } = await hash.result;
  if (infectedWith) return { kind: "infected", signature: infectedWith };
  if (bytes !== version.sizeBytes || sha256 !== version.sha256) {
    return {
      kind: "failed",
      reason: "processing_failed",
      detail: `the stored object does not match the upload (${bytes} bytes, sha256 ${sha256.slice(0, 12)}…)`,
    };
  }
  return { kind: "clean", scanResult: services.scanner ? "clean" : "skipped" };
}

/**
 * How long a thumbnail waits for the isolate's decode slot (`withDecodeSlot`: one image decoded at
 * a time, `MAX_CONCURRENT_DECODES`, since photon's WebAssembly memory grows to about 48 MB for one
 * decode and never shrinks). Without limit: a queue batch has no one waiting for an answer, and
 * each holder frees the slot after its own bounded read (S3 timeout) and decode.
 */
const THUMBNAIL_DECODE_WAIT_MS = Number.POSITIVE_INFINITY;

/** The thumbnail's key in the thumbnails bucket, or null for a type that has none. */
async function makeThumbnail(services: ProcessorServices, target: Target, kept: Uint8Array | undefined) {
  const { document, version } = target;
  if (!["image/png", "image/jpeg", "image/gif", "image/webp"].includes(version.contentType)) return null;
  if (version.sizeBytes > MAX_IMAGE_BYTES) return null;
  // The stored image is read inside the slot too: extractions waiting for it hold no image bytes
  // (but what the scan kept).
  const small = await withDecodeSlot(async () => {
    let bytes = kept;
    if (!bytes) {
      const object = await services.storage.get(version.storageKey);
      if (!object) throw new ImageDecodeError(new Error("the stored object is missing"));
      bytes = (await readAtMost(object.body, MAX_IMAGE_BYTES)).bytes;
    }
    try {
      return await thumbnail(bytes);
    } catch (error) {
      if (error instanceof ImageTooLargeError) {
        services.logger.info("no thumbnail", { reason: error.message });
        return null;
      }
      throw error;
    }
  }, THUMBNAIL_DECODE_WAIT_MS);
  if (!small) return null;
  // One key per version: a second run overwrites the same object.
  const key = `documents/${document.id}/v${version.version}.webp`;
  await services.thumbnails.put(key, small.bytes, {
    contentLength: small.bytes.length,
    contentType: "image/webp",
    metadata: { width: String(small.width), height: String(small.height) },
  });
  return key;
}

/**
 * Deliveries that may start extracting a version and end without finishing or catching anything
 * (the runtime ended the isolate: CPU or memory limit) before the next fails it `file_too_complex`:
 * a file that kills the isolate would otherwise be tried again until the dead-letter queue.
 */
export const MAX_UNFINISHED_EXTRACTIONS = 2;

/** Index (extracted text) and thumbnail of one version; the file's own faults become its `failure`. */
async function extract(services: ProcessorServices, work: Work & { target: Target }): Promise<void> {
  const { version } = work.target;
  try {
    const kept = work.kept;
    work.content = await extractText(version.contentType, version.sizeBytes, async () => {
      if (kept) return new Response(kept).body as ReadableStream<Uint8Array>;
      const object = await services.storage.get(version.storageKey);
      if (!object) throw new ExtractionError("processing_failed", "the stored object is missing");
      return object.body;
    });
    work.thumbnailKey = await makeThumbnail(services, work.target, kept);
  } catch (error) {
    // The file's own fault (damaged, or past a bound): failed now, never retried.
    if (error instanceof ExtractionError) work.failure = { reason: error.reason, detail: error.message };
    else if (error instanceof ImageDecodeError) work.failure = { reason: "unsupported_content", detail: error.message };
    else retry(work, error);
  } finally {
    work.kept = undefined;
  }
}

/** The attributes that name a version on its steps' spans. */
function stepAttributes(work: Work) {
  const event = work.items[0]?.event;
  return { "techcorp.document.id": event?.documentId ?? "", "techcorp.document.version": event?.documentVersion ?? 0 };
}

/**
 * Runs one version's own step (`scan`, `extract`) in a span `document <step>` of its upload's
 * trace (the first message's consumer span), so that the calls it makes (clamd, S3) are its children.
 */
function inStep<T>(work: Work, step: string, run: () => Promise<T>): Promise<T> {
  return inSpan(`document ${step}`, { parent: work.items[0]?.context, attributes: stepAttributes(work) }, run);
}

/**
 * Spans `document <step>` for a step the batch's versions share (`index`: one transaction writes
 * every version's text and status; `notify`: one send of every owner's notification): one per
 * version, in its own trace, covering the shared work. The shared calls themselves are children of
 * the batch's span. Returns a function that ends them.
 */
function sharedStep(works: readonly Work[], step: string): { contexts: Map<Work, Context>; end: () => void } {
  const spans = works.map((work) => {
    const span = startSpan(`document ${step}`, { parent: work.items[0]?.context, attributes: stepAttributes(work) });
    return [work, span] as const;
  });
  return {
    contexts: new Map(spans.map(([work, span]) => [work, contextWith(span, work.items[0]?.context)])),
    end: () => {
      for (const [, span] of spans) span.end();
    },
  };
}

/**
 * Ends extracted versions: `ready` with their text (stored in the same transaction, and only if the
 * transition applies) or `failed` for a file's own fault; one transaction for all of them.
 */
async function finish(services: ProcessorServices, works: (Work & { target: Target })[]): Promise<void> {
  const step = sharedStep(works, "index");
  try {
    await finishAll(services, works);
  } finally {
    step.end();
  }
}

async function finishAll(services: ProcessorServices, works: (Work & { target: Target })[]): Promise<void> {
  const results = await transitionAll(services, works, (work): Plan => {
    if (work.failure) {
      return {
        change: {
          from: TRANSIENT_STATUSES,
          to: "failed",
          failureReason: work.failure.reason,
          failureDetail: work.failure.detail,
        },
      };
    }
    return {
      change: { from: ["processing"], to: "ready", thumbnailKey: work.thumbnailKey ?? null, content: work.content },
    };
  });
  await Promise.all(
    works.map(async (work) => {
      const outcome = results.get(work);
      work.content = undefined;
      if (!outcome || "error" in outcome) return retry(work, outcome?.error);
      const version = outcome.value.moved ? outcome.value.version : undefined;
      if (work.failure) {
        if (version) {
          moved(work, version);
          work.logger.warn("version failed", { documentId: work.target.document.id, ...work.failure });
        }
        work.result = {
          outcome: "done",
          note: version ? `failed: ${work.failure.reason}: ${work.failure.detail}` : "already ended elsewhere",
        };
        return;
      }
      if (version) {
        moved(work, version);
        work.result = { outcome: "done", note: "ready" };
        return;
      }
      // Ended otherwise meanwhile (the sweeper failed it, or a concurrent delivery readied it):
      // no searchable text from us, and our thumbnail removed unless the row records that key
      // (the key is the version's own, so a concurrent delivery's ready row may point to it).
      const recorded = outcome.value.version?.thumbnailKey;
      if (work.thumbnailKey && work.thumbnailKey !== recorded) {
        await services.thumbnails.delete(work.thumbnailKey).catch((error) => retry(work, error));
      }
      work.result ??= { outcome: "done", note: "ended elsewhere while processing" };
    }),
  );
}

/**
 * Extracts and ends one version that an earlier delivery started without finishing: its own start
 * counted first, in its own round trip (`startExtractions`), so the count is this delivery's only
 * when this version really starts; past MAX_UNFINISHED_EXTRACTIONS unfinished starts it fails
 * `file_too_complex` without another try. Then `finish` for it alone.
 */
async function extractAlone(services: ProcessorServices, work: Work & { target: Target }): Promise<void> {
  const key = { documentId: work.target.document.id, version: work.target.version.version };
  let starts: number | undefined;
  try {
    const [rows] = await batchAsActor(services.database.http, SYSTEM, (db) => [startExtractions(db, { keys: [key] })]);
    starts = rows[0]?.starts;
  } catch (error) {
    return retry(work, error);
  }
  if (starts === undefined) {
    work.result = { outcome: "done", note: "ended elsewhere before processing" };
    return;
  }
  if (starts > MAX_UNFINISHED_EXTRACTIONS) {
    work.failure = {
      reason: "file_too_complex",
      detail: `processing ended the isolate ${starts - 1} times without finishing (CPU or memory limit)`,
    };
  } else await extract(services, work);
  if (!work.result) await finish(services, [work]);
}

/**
 * The Worker Service's pipeline for the `document.uploaded` messages of one queue batch, each
 * decided on its own: one result per item, in order (a duplicate of a version already in the batch
 * is done: the first message naming it carries its outcome). The steps run for the whole batch at
 * once, each version from the status it is in; round trips per batch, whatever its size:
 *
 *   1. load every version                              1 HTTP round trip to Postgres (read only)
 *   2. pending → scanning                              1 HTTP round trip (one transaction)
 *   3. scan (S3 read, SHA-256, clamd), in parallel     per version: 1 S3 GET + 1 clamd session
 *      (SCAN_CONCURRENCY at once)
 *   4. scanning → processing | quarantined | failed,
 *      and the extraction starts counted               1 HTTP round trip (one transaction)
 *   5. extract text (+ thumbnail), in parallel         per version: no S3 GET for an object read
 *      (EXTRACTION_CONCURRENCY, EXTRACTION_BUDGET_BYTES) whole in 3, else 1 (+1 GET, 1 PUT for
 *      an image; one image decoded at a time)          an image)
 *   6. processing → ready (+ text) | failed            1 HTTP round trip (one transaction; one
 *                                                      more per READY_FLUSH_CHARS of text)
 *   5'+6'. versions an earlier delivery started        per version, one after another: 2 HTTP
 *      without finishing (rare: an ended isolate)      round trips (its start counted; its end)
 *   7. endings announced: stale cached searches        1 HTTP round trip + 1 Redis pipeline
 *      and the owners' notifications                   1 sendBatch (per 100 messages / 256 KB)
 *   8. transient failures' details kept (`noteRetry`)  1 transaction, only if there are any
 *
 * When Postgres refuses a statement of a stage's batch (a SQLSTATE: the transaction was rolled
 * back), that stage runs again per version (`transitionAll`), so a poisoned message fails alone and
 * no change is made twice. When a stage's batch gets no answer (it may have committed), every
 * version of that stage is retried and nothing of it is undone: the redelivery starts from the
 * status it finds, and announces an ending it finds (7). A thumbnail the version's row records is
 * never deleted.
 */
export async function processDocuments(
  items: readonly BatchItem[],
  services: ProcessorServices,
): Promise<StepResult[]> {
  const byKey = new Map<string, Work>();
  for (const item of items) {
    const key = keyOf(item.event.documentId, item.event.documentVersion);
    const work = byKey.get(key);
    if (work) work.items.push(item);
    else byKey.set(key, { items: [item], requestId: item.event.requestId, logger: item.logger });
  }
  const works = [...byKey.values()];
  const stagesMs: Record<string, number> = {};
  let lap = Date.now();
  const stage = (name: string) => {
    const now = Date.now();
    stagesMs[name] = now - lap;
    lap = now;
  };
  await loadAll(services, works);
  stage("load");

  // 2. pending → scanning. Each version goes on from the status read back: scanning (moved by us or
  // a concurrent delivery: the scan runs, the transitions after it are conditional), processing
  // (a concurrent delivery scanned it: no scan), or ended (announced again in 7).
  const pending = works.filter(active).filter((work) => work.target.version.status === "pending");
  const started = await transitionAll(services, pending, () => ({ change: { from: ["pending"], to: "scanning" } }));
  for (const work of pending) {
    const outcome = started.get(work);
    if (!outcome || "error" in outcome) retry(work, outcome?.error);
    else if (!outcome.value.version) work.result = { outcome: "done", note: "document no longer exists" };
    else work.target = { ...work.target, version: outcome.value.version };
  }

  stage("start");

  // 3. Scans, in parallel.
  const scanning = works.filter(active).filter((work) => work.target.version.status === "scanning");
  let keptBytes = 0;
  await forEachBounded(scanning, { concurrency: SCAN_CONCURRENCY }, async (work) => {
    try {
      work.verdict = await inStep(work, "scan", () =>
        scan(services, work, () => {
          if (keptBytes + work.target.version.sizeBytes > KEEP_BUDGET_BYTES) return false;
          keptBytes += work.target.version.sizeBytes;
          return true;
        }),
      );
    } catch (error) {
      retry(work, error);
    }
  });

  stage("scan");

  // 4. The scans' outcomes, and the start of extraction counted for every version now processing
  // that has none counted (`startExtractions`); each goes on from the status read back.
  const toExtract = works
    .filter(active)
    .filter((work) => ["scanning", "processing"].includes(work.target.version.status));
  const scanned = await transitionAll(services, toExtract, (work): Plan => {
    const verdict = work.verdict;
    if (work.target.version.status === "processing") return { startExtraction: true };
    switch (verdict?.kind) {
      case "failed":
        return {
          change: {
            from: TRANSIENT_STATUSES,
            to: "failed",
            failureReason: verdict.reason,
            failureDetail: verdict.detail,
          },
        };
      case "infected":
        return {
          change: {
            from: ["scanning"],
            to: "quarantined",
            failureReason: "malware_detected",
            failureDetail: `malware found: ${verdict.signature}`,
            scanResult: "infected",
          },
        };
      default:
        return {
          change: { from: ["scanning"], to: "processing", scanResult: verdict?.scanResult ?? "clean" },
          startExtraction: true,
        };
    }
  });
  const extracting: (Work & { target: Target })[] = [];
  /** Versions started before without finishing: each alone, after the others (`extractAlone`). */
  const suspects: (Work & { target: Target })[] = [];
  for (const work of toExtract) {
    const outcome = scanned.get(work);
    if (!active(work)) continue;
    if (!outcome || "error" in outcome) {
      retry(work, outcome?.error);
      continue;
    }
    const { verdict } = work;
    const { version, moved: applied, starts } = outcome.value;
    if (!version) {
      work.kept = undefined;
      work.result = { outcome: "done", note: "document no longer exists" };
      continue;
    }
    if (work.target.version.status === "scanning" && verdict?.kind !== "clean") {
      work.kept = undefined;
      if (applied) moved(work, version);
      if (verdict?.kind === "infected") {
        work.result = {
          outcome: "done",
          note: applied ? `quarantined: ${verdict.signature}` : "already ended elsewhere",
        };
      } else if (verdict?.kind === "failed") {
        if (applied)
          work.logger.warn("version failed", {
            documentId: work.target.document.id,
            reason: verdict.reason,
            detail: verdict.detail,
          });
        work.result = {
          outcome: "done",
          note: applied ? `failed: ${verdict.reason}: ${verdict.detail}` : "already ended elsewhere",
        };
      }
      continue;
    }
    if (version.status !== "processing") {
      work.kept = undefined;
      // Ended by someone else (the sweeper, a concurrent delivery), or put back in transit (a
      // reprocess): retried then, since only an ending may ack it.
      if ((TRANSIENT_STATUSES as readonly string[]).includes(version.status)) {
        retry(work, new Error(`the version is ${version.status} again`));
      } else work.result = { outcome: "done", note: "ended elsewhere before processing" };
      continue;
    }
    work.target = { ...work.target, version };
    if (starts === undefined) {
      // A start was counted before this batch's: an earlier delivery ended without finishing (the
      // isolate may have been ended by this very file), or a concurrent one is extracting it.
      work.kept = undefined;
      suspects.push(work);
    } else extracting.push(work);
  }

  stage("scanned");

  // 5 and 6. Extractions in parallel, bounded by count and by the bytes their sources may hold;
  // their text committed with `ready` in one transaction (several past READY_FLUSH_CHARS).
  let waiting: (Work & { target: Target })[] = [];
  let waitingChars = 0;
  let flushing = Promise.resolve();
  const flush = () => {
    const group = waiting;
    waiting = [];
    waitingChars = 0;
    flushing = flushing.then(() => finish(services, group));
    return flushing;
  };
  await forEachBounded(
    extracting,
    {
      concurrency: EXTRACTION_CONCURRENCY,
      budget: EXTRACTION_BUDGET_BYTES,
      weight: (work) => Math.min(work.target.version.sizeBytes, MAX_BINARY_SOURCE_BYTES),
    },
    async (work) => {
      if (!work.failure) await inStep(work, "extract", () => extract(services, work));
      if (work.result) return;
      waiting.push(work);
      waitingChars += work.content?.text.length ?? 0;
      if (waitingChars >= READY_FLUSH_CHARS) await flush();
    },
  );
  await flush();

  stage("extractAndReady");

  // 5 and 6 again, one version at a time, for those started before: a file that ends the isolate
  // then takes no healthy version of the batch with it, and fails alone once it has done so
  // MAX_UNFINISHED_EXTRACTIONS times.
  for (const work of suspects) await extractAlone(services, work);

  stage("extractAlone");

  // 7. Redeliveries of versions that already ended announce that ending again, in case the
  // delivery that ended it could not; the notification's id makes this a no-op otherwise.
  for (const work of works.filter(active)) {
    if (!(TRANSIENT_STATUSES as readonly string[]).includes(work.target.version.status)) {
      work.ended = work.target.version;
      work.result = { outcome: "done", note: `already ${work.target.version.status}` };
    }
  }
  await announceAll(services, works);

  stage("announce");

  // 8. Transient failures: the detail where the dead-letter step finds it.
  const retried = works.filter((work) => work.result?.outcome === "retry");
  await inOneTransaction(services, retried, (tx, work) =>
    noteRetry(tx, {
      documentId: work.items[0]?.event.documentId ?? "",
      version: versionOf(work),
      detail: work.result?.outcome === "retry" ? work.result.reason : "",
    }),
  );

  stage("noteRetries");
  services.logger.info("batch processed", { messages: items.length, versions: works.length, stagesMs });

  return items.map((item) => {
    const work = byKey.get(keyOf(item.event.documentId, item.event.documentVersion)) as Work;
    if (work.items[0] !== item) return { outcome: "done", note: "duplicate of another message of this batch" };
    return work.result ?? { outcome: "retry", reason: "not finished" };
  });
}

/**
 * What the batch's committed endings make visible outside: one cache invalidation for all their
 * documents, one `publishAll` for their owners' notifications. If that send fails, each is sent
 * alone, and a version whose notification could not be sent is retried (its redelivery announces
 * the same ending again).
 */
async function announceAll(services: ProcessorServices, works: readonly Work[]): Promise<void> {
  const endings = works.filter((work) => work.ended && work.target);
  if (endings.length === 0) return;
  await invalidateDocuments({ ...services, http: services.database.http }, [
    ...new Set(endings.map((work) => work.target?.document.id ?? "")),
  ]);
  const step = sharedStep(endings, "notify");
  // Each owner's notification carries its own version's trace on to the Notification Service.
  const ending = (work: Work) => ({
    requestId: work.requestId,
    document: (work.target as Target).document,
    version: work.ended as DocumentVersion,
    trace: traceHeaders(step.contexts.get(work)),
  });
  try {
    await notifyOutcomes(services, endings.map(ending));
  } catch (error) {
    services.logger.warn("batch notification failed; each on its own", { error });
    await Promise.all(
      endings.map(async (work) => {
        try {
          await notifyOutcomes(services, [ending(work)]);
        } catch (error) {
          retry(work, error);
        }
      }),
    );
  } finally {
    step.end();
  }
}

/**
 * A version whose event exhausted its retries ends `failed` (`processing_failed`, the last transient
 * error as its detail), never stuck in transit.
 */
export async function failDeadLettered(
  event: DocumentUploaded,
  _attempts: number,
  services: ProcessorServices,
): Promise<StepResult> {
  const target = await load(services, event.documentId, event.documentVersion);
  if (!target) return { outcome: "done", note: "gone" };
  // Deleted meanwhile: nobody is told about it any more (the purge removes it).
  if (target.document.deletedAt) return { outcome: "done", note: "document deleted" };
  if (!(TRANSIENT_STATUSES as readonly string[]).includes(target.version.status)) {
    // It ended, but its announcement may be what kept failing.
    await announceEnded(services, event.requestId, target.document, target.version);
    return { outcome: "done", note: "already final" };
  }
  const last = target.version.failureDetail ? `: ${target.version.failureDetail}` : "";
  return fail(
    services,
    event.requestId,
    target,
    "processing_failed",
    `processing did not succeed within the retry limit${last}`,
  );
}

/**
 * Ends a version the sweeper found stuck in a transient status (its messages were lost):
 * `processing_failed`, with `detail` for operators.
 */
export async function failStuck(
  services: ProcessorServices,
  params: { documentId: string; version: number; detail: string },
): Promise<boolean> {
  const target = await load(services, params.documentId, params.version);
  if (!target || target.document.deletedAt) return false;
  if (!(TRANSIENT_STATUSES as readonly string[]).includes(target.version.status)) return false;
  const moved = await move(services, "sweeper", target, {
    from: TRANSIENT_STATUSES,
    to: "failed",
    failureReason: "processing_failed",
    failureDetail: params.detail,
  });
  if (moved) services.logger.warn("version failed", { documentId: params.documentId, detail: params.detail });
  return moved !== undefined;
}
