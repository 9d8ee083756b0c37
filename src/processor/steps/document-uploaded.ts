import { getDocument, transitionDocument } from "../../db/queries/documents.ts";
import type { DocumentStatus } from "../../db/schema/documents.ts";
import type { DocumentUploaded } from "../../pkg/queue/events.ts";
import type { ProcessorServices, StepResult } from "../context.ts";

const FINAL: readonly DocumentStatus[] = ["ready", "failed", "quarantined"];

/**
 * The pipeline for an uploaded document. Today: confirm the stored object is there and whole,
 * then mark the document ready; the document issue adds scan, extraction, index and thumbnail
 * here. Every transition is conditional, so a second delivery of the same event does nothing.
 */
export async function processDocumentUploaded(
  event: DocumentUploaded,
  services: ProcessorServices,
): Promise<StepResult> {
  const { db } = services.database;
  const document = await getDocument(db, { id: event.documentId });
  if (!document) return { outcome: "done", note: "document no longer exists" };
  if (FINAL.includes(document.status)) return { outcome: "done", note: `already ${document.status}` };

  // A delivery that died half-way left it `processing`; carry on from there.
  await transitionDocument(db, { id: document.id, from: ["pending"], to: "processing" });

  const stored = await services.storage.head(document.storageKey);
  const problem = !stored
    ? "the stored object is missing"
    : stored.size !== document.sizeBytes
      ? `the stored object has ${stored.size} bytes, expected ${document.sizeBytes}`
      : undefined;
  if (problem) {
    await transitionDocument(db, { id: document.id, from: ["processing"], to: "failed", failureReason: problem });
    return { outcome: "done", note: `failed: ${problem}` };
  }

  await transitionDocument(db, { id: document.id, from: ["processing"], to: "ready" });
  return { outcome: "done", note: "ready" };
}

/** A document whose event exhausted its retries ends `failed` with the reason, never stuck in transit. */
export async function failDeadLetteredDocument(
  event: DocumentUploaded,
  attempts: number,
  services: ProcessorServices,
): Promise<StepResult> {
  const updated = await transitionDocument(services.database.db, {
    id: event.documentId,
    from: ["pending", "scanning", "processing"],
    to: "failed",
    failureReason: `processing did not succeed after ${attempts} deliveries`,
  });
  return { outcome: "done", note: updated ? "marked failed" : "already final or gone" };
}
