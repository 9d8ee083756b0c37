import type { Document, DocumentVersion, FailureReason } from "../../db/schema/documents.ts";
import { FAILURE_REASON_TEXT } from "../../documents/failure-reasons.ts";
import { derivedEventId } from "../../pkg/queue/events.ts";
import type { ProcessorServices } from "../context.ts";

export type Outcome =
  | { kind: "document.ready"; scanned: boolean }
  | { kind: "document.quarantined"; reason: FailureReason }
  | { kind: "document.failed"; reason: FailureReason };

const TITLES: Record<Outcome["kind"], (title: string) => string> = {
  "document.ready": (title) => `“${title}” is ready`,
  "document.quarantined": (title) => `“${title}” was quarantined`,
  "document.failed": (title) => `“${title}” could not be processed`,
};

function bodyOf(outcome: Outcome, version: number): string {
  switch (outcome.kind) {
    case "document.ready":
      // With VIRUS_SCAN=off the version is `skipped`: the text does not claim a scan that never ran.
      return outcome.scanned
        ? `Version ${version} was scanned, indexed and is available.`
        : `Version ${version} was indexed and is available (not scanned for malware).`;
    // The stable reason's sentence, never the operator's detail (OWASP API8:2023).
    case "document.quarantined":
      return `Version ${version} was quarantined: ${FAILURE_REASON_TEXT[outcome.reason]}.`;
    case "document.failed":
      return `Version ${version} could not be processed: ${FAILURE_REASON_TEXT[outcome.reason]}.`;
  }
}

/**
 * The outcome a version in a final status announces, or undefined while it is still in transit.
 * Its reason is the version's reason code, which notifications and webhooks carry as `reason`.
 */
export function outcomeOf(version: DocumentVersion): Outcome | undefined {
  switch (version.status) {
    case "ready":
      return { kind: "document.ready", scanned: version.scanResult === "clean" };
    case "quarantined":
      return { kind: "document.quarantined", reason: version.failureReason ?? "malware_detected" };
    case "failed":
      return { kind: "document.failed", reason: version.failureReason ?? "processing_failed" };
    default:
      return undefined;
  }
}

/**
 * The notification that tells the owner how processing of `version` ended, or undefined while it
 * is still in transit. Built only from a version as a committed transition left it, never before:
 * the notification announces state that exists. Its event id is derived from the version and the
 * moment it ended (its `updatedAt`), not from whoever ended it, so every announcement of one ending
 * (the pipeline, its redelivery, the sweeper, the dead-letter step) is the same event, stored once;
 * a version that is processed again and ends again is announced again.
 */
export async function outcomeNotification(
  requestId: string,
  document: Document,
  version: DocumentVersion,
  trace: { traceparent?: string; tracestate?: string } = {},
) {
  const outcome = outcomeOf(version);
  if (!outcome) return undefined;
  const title = document.title.length > 200 ? `${document.title.slice(0, 199)}…` : document.title;
  return {
    id: await derivedEventId(
      "document.outcome",
      document.id,
      String(version.version),
      outcome.kind,
      version.updatedAt.toISOString(),
    ),
    type: "notification.requested" as const,
    requestId,
    ...trace,
    userId: document.ownerId,
    kind: outcome.kind,
    title: TITLES[outcome.kind](title),
    body: bodyOf(outcome, version.version).slice(0, 2000),
    data: {
      documentId: document.id,
      version: version.version,
      ...(outcome.kind === "document.ready" ? {} : { reason: outcome.reason }),
    },
  };
}

/** Asks the Notification Service to tell the owner how processing of `version` ended (one queue send). */
export async function notifyOutcome(
  services: ProcessorServices,
  requestId: string,
  document: Document,
  version: DocumentVersion,
): Promise<void> {
  const notification = await outcomeNotification(requestId, document, version);
  if (notification) await services.notifications.publish(notification);
}

/**
 * `notifyOutcome` for several endings: one `publishAll` (one `sendBatch` per 100 messages or
 * 256 KB). Throws `DependencyError` as `publishAll` does; some of the endings may then have been
 * sent, which is harmless (each is one event, stored once).
 */
export async function notifyOutcomes(
  services: ProcessorServices,
  endings: readonly {
    requestId: string;
    document: Document;
    version: DocumentVersion;
    /** The W3C Trace Context the notification carries on (the version's trace). */
    trace?: { traceparent?: string; tracestate?: string };
  }[],
): Promise<void> {
  const built = await Promise.all(
    endings.map(({ requestId, document, version, trace }) => outcomeNotification(requestId, document, version, trace)),
  );
  const notifications = built.filter((notification) => notification !== undefined);
  if (notifications.length > 0) await services.notifications.publishAll(notifications);
}
