import type { Document } from "@techcorp/sdk";

const LABELS: Record<Document["status"], string> = {
  pending: "Waiting",
  scanning: "Scanning",
  processing: "Processing",
  ready: "Ready",
  quarantined: "Quarantined",
  failed: "Failed",
};

/** Processing ends in one of these; the others change by themselves. */
export const FINAL_STATUSES: ReadonlySet<Document["status"]> = new Set(["ready", "quarantined", "failed"]);

/** A document's processing status, as text (not colour alone) for every reader. */
export function StatusBadge({ status }: { status: Document["status"] }) {
  return <span class={`status status-${status}`}>{LABELS[status]}</span>;
}
