import type { Document, DocumentVersion } from "../../db/schema/documents.ts";
import { derivedEventId, type NotificationKind } from "../../pkg/queue/events.ts";
import type { ProcessorServices } from "../context.ts";

export type Outcome =
  | { kind: "document.ready" }
  | { kind: "document.quarantined"; reason: string }
  | { kind: "document.failed"; reason: string };

const TITLES: Record<NotificationKind, (title: string) => string> = {
  "document.ready": (title) => `“${title}” is ready`,
  "document.quarantined": (title) => `“${title}” was quarantined`,
  "document.failed": (title) => `“${title}” could not be processed`,
};

function bodyOf(outcome: Outcome, version: number): string {
  switch (outcome.kind) {
    case "document.ready":
      return `Version ${version} was scanned, indexed and is available.`;
    case "document.quarantined":
      return `Version ${version} contains malware (${outcome.reason.replace(/^malware found: /, "")}) and will not be served.`;
    case "document.failed":
      return `Version ${version} failed: ${outcome.reason}`;
  }
}

/**
 * Asks the Notification Service to tell the owner how processing ended. The event id is derived
 * from the upload event and the outcome, so sending it again (a redelivered upload) stores one
 * notification.
 */
export async function notifyOutcome(
  services: ProcessorServices,
  cause: { id: string; requestId: string },
  target: { document: Document; version: DocumentVersion },
  outcome: Outcome,
): Promise<void> {
  const { document, version } = target;
  const title = document.title.length > 200 ? `${document.title.slice(0, 199)}…` : document.title;
  await services.notifications.publish({
    id: await derivedEventId(cause.id, outcome.kind),
    type: "notification.requested",
    requestId: cause.requestId,
    userId: document.ownerId,
    kind: outcome.kind,
    title: TITLES[outcome.kind](title),
    body: bodyOf(outcome, version.version).slice(0, 2000),
    data: {
      documentId: document.id,
      version: version.version,
      ...(outcome.kind === "document.ready" ? {} : { reason: outcome.reason }),
    },
  });
}
