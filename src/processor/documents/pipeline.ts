import { asActor, SYSTEM, type Transaction } from "../../db/actor.ts";
import {
  getDocumentForProcessing,
  getVersion,
  noteRetry,
  saveContent,
  startExtraction,
  transitionVersion,
  type VersionChange,
} from "../../db/queries/documents.ts";
import {
  type Document,
  type DocumentVersion,
  type FailureReason,
  TRANSIENT_STATUSES,
} from "../../db/schema/documents.ts";
import { ImageDecodeError, ImageTooLargeError, MAX_IMAGE_BYTES, thumbnail } from "../../documents/convert.ts";
import { ExtractionError, extractText, readAtMost } from "../../documents/extract-text.ts";
import type { DocumentUploaded } from "../../pkg/queue/events.ts";
import { hashingStream } from "../../pkg/storage/hashing.ts";
import { ScanRefusedError } from "../../pkg/virus-scan/clamd.ts";
import { invalidateDocument } from "../../search/search-cache.ts";
import type { ProcessorServices, StepResult } from "../context.ts";
import { notifyOutcome } from "./notify.ts";

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

/** Validation and virus scan: one pass over the stored object. */
async function scan(
  services: ProcessorServices,
  event: DocumentUploaded,
  target: Target,
): Promise<StepResult | undefined> {
  const { version } = target;
  const object = await services.storage.get(version.storageKey);
  if (!object) return fail(services, event.requestId, target, "processing_failed", "the stored object is missing");
  const hash = hashingStream();
  const body = object.body.pipeThrough(hash.stream);
  let infectedWith: string | undefined;
  if (services.scanner) {
    try {
      const verdict = await services.scanner.scan(body);
      if (verdict.infected) infectedWith = verdict.signature;
    } catch (error) {
      if (error instanceof ScanRefusedError)
        return fail(services, event.requestId, target, "file_too_large", error.message);
      throw error;
    }
  } else {
    // Not scanned (by configuration), but still read whole to validate it.
    await body.pipeTo(new WritableStream());
  }
  const { sha256, bytes } = await hash.result;
  if (infectedWith) {
    await move(services, event.requestId, target, {
      from: ["scanning"],
      to: "quarantined",
      failureReason: "malware_detected",
      failureDetail: `malware found: ${infectedWith}`,
      scanResult: "infected",
    });
    return { outcome: "done", note: `quarantined: ${infectedWith}` };
  }
  if (bytes !== version.sizeBytes || sha256 !== version.sha256) {
    return fail(
      services,
      event.requestId,
      target,
      "processing_failed",
      `the stored object does not match the upload (${bytes} bytes, sha256 ${sha256.slice(0, 12)}…)`,
    );
  }
  await move(services, event.requestId, target, {
    from: ["scanning"],
    to: "processing",
    scanResult: services.scanner ? "clean" : "skipped",
  });
  return undefined;
}

/** The thumbnail's key in the thumbnails bucket, or null for a type that has none. */
async function makeThumbnail(services: ProcessorServices, target: Target): Promise<string | null> {
  const { document, version } = target;
  if (!["image/png", "image/jpeg", "image/gif", "image/webp"].includes(version.contentType)) return null;
  if (version.sizeBytes > MAX_IMAGE_BYTES) return null;
  const object = await services.storage.get(version.storageKey);
  if (!object) throw new ImageDecodeError(new Error("the stored object is missing"));
  const { bytes } = await readAtMost(object.body, MAX_IMAGE_BYTES);
  let small: Awaited<ReturnType<typeof thumbnail>>;
  try {
    small = await thumbnail(bytes);
  } catch (error) {
    if (error instanceof ImageTooLargeError) {
      services.logger.info("no thumbnail", { reason: error.message });
      return null;
    }
    throw error;
  }
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

/** Index (extracted text) and thumbnail, then ready: the text becomes searchable with the status. */
async function enrich(services: ProcessorServices, event: DocumentUploaded, target: Target): Promise<StepResult> {
  const { document, version } = target;
  const starts = await system(services, (tx) =>
    startExtraction(tx, { documentId: document.id, version: version.version }),
  );
  if (starts === undefined) return { outcome: "done", note: "ended elsewhere before processing" };
  if (starts > MAX_UNFINISHED_EXTRACTIONS) {
    return fail(
      services,
      event.requestId,
      target,
      "file_too_complex",
      `processing ended the isolate ${starts - 1} times without finishing (CPU or memory limit)`,
    );
  }
  let content: Awaited<ReturnType<typeof extractText>>;
  let thumbnailKey: string | null;
  try {
    content = await extractText(version.contentType, version.sizeBytes, async () => {
      const object = await services.storage.get(version.storageKey);
      if (!object) throw new ExtractionError("processing_failed", "the stored object is missing");
      return object.body;
    });
    thumbnailKey = await makeThumbnail(services, target);
  } catch (error) {
    // The file's own fault (damaged, or past a bound): failed now, never retried.
    if (error instanceof ExtractionError) return fail(services, event.requestId, target, error.reason, error.message);
    if (error instanceof ImageDecodeError)
      return fail(services, event.requestId, target, "unsupported_content", error.message);
    throw error;
  }
  // The text is stored only with the transition to ready: a version that ended otherwise meanwhile
  // (the sweeper failed it) gets no searchable text and no thumbnail.
  const ready = await system(services, async (tx) => {
    const moved = await transitionVersion(tx, {
      documentId: document.id,
      version: version.version,
      from: ["processing"],
      to: "ready",
      thumbnailKey,
    });
    if (moved) await saveContent(tx, { documentId: document.id, version: version.version, ...content });
    return moved;
  });
  if (!ready) {
    if (thumbnailKey) await services.thumbnails.delete(thumbnailKey);
    return { outcome: "done", note: "ended elsewhere while processing" };
  }
  await announceEnded(services, event.requestId, document, ready);
  return { outcome: "done", note: "ready" };
}

export async function processDocument(
  event: DocumentUploaded,
  _attempts: number,
  services: ProcessorServices,
): Promise<StepResult> {
  let target = await load(services, event.documentId, event.documentVersion);
  if (!target || target.document.deletedAt) return { outcome: "done", note: "document no longer exists" };
  try {
    if (target.version.status === "pending") {
      await move(services, event.requestId, target, { from: ["pending"], to: "scanning" });
      target = { ...target, version: { ...target.version, status: "scanning" } };
    }
    if (target.version.status === "scanning") {
      const stopped = await scan(services, event, target);
      if (stopped) return stopped;
      target = { ...target, version: { ...target.version, status: "processing" } };
    }
    if (target.version.status === "processing") return await enrich(services, event, target);
    // Ended already (a redelivery, or the sweeper): announce that ending again, in case the
    // delivery that ended it could not. The notification's id makes this a no-op otherwise.
    await announceEnded(services, event.requestId, target.document, target.version);
  } catch (error) {
    // Transient (storage, database, scanner): keep the detail where the dead-letter step finds it.
    const reason = error instanceof Error ? error.message : String(error);
    await system(services, (tx) =>
      noteRetry(tx, { documentId: event.documentId, version: event.documentVersion, detail: reason }),
    ).catch(() => {});
    return { outcome: "retry", reason };
  }
  return { outcome: "done", note: `already ${target.version.status}` };
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
  if (!target || !(TRANSIENT_STATUSES as readonly string[]).includes(target.version.status)) return false;
  const moved = await move(services, "sweeper", target, {
    from: TRANSIENT_STATUSES,
    to: "failed",
    failureReason: "processing_failed",
    failureDetail: params.detail,
  });
  if (moved) services.logger.warn("version failed", { documentId: params.documentId, detail: params.detail });
  return moved !== undefined;
}
