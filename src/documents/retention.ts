import type { VersionRetention } from "../db/queries/documents.ts";

// How long what a user deletes can be brought back, and how many old versions a document keeps.

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A deleted document stays restorable (POST /documents/{id}/restore, GET /documents/trash) this
 * long after it was deleted, its objects kept; then the sweeper purges it with them (7 days, the
 * product's soft-delete grace).
 */
export const DELETED_DOCUMENT_GRACE_MS = 7 * DAY_MS;

/** When a document deleted at `deletedAt` is purged (at the sweeper's first run from then on). */
export const purgeAt = (deletedAt: Date): Date => new Date(deletedAt.getTime() + DELETED_DOCUMENT_GRACE_MS);

/** The processor's VERSION_RETENTION_* variables, parsed. */
export interface VersionRetentionPolicy {
  /** VERSION_RETENTION_KEEP_LATEST: the newest this many versions of a document are always kept. */
  keepLatest: number;
  /** VERSION_RETENTION_DAILY_DAYS: older versions younger than this (days) keep one per UTC day, the newest. */
  dailyDays: number;
}

/**
 * The versions a run at `now` keeps (see `VersionRetentionPolicy`): besides each document's current
 * version, its newest `keepLatest`, and of the others the newest of each UTC day within the last
 * `dailyDays` days; anything older goes.
 */
export function versionRetentionAt(policy: VersionRetentionPolicy, now: Date): VersionRetention {
  return { keepLatest: policy.keepLatest, dailySince: new Date(now.getTime() - policy.dailyDays * DAY_MS) };
}
