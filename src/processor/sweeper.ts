import { asActor, SYSTEM } from "../db/actor.ts";
import { NoRowsAffectedError } from "../db/affected.ts";
import { purgeExpiredAccountTokens } from "../db/queries/account-tokens.ts";
import { accountsToErase, documentsToErase, eraseAccount } from "../db/queries/accounts.ts";
import {
  deletedBefore,
  documentsToThin,
  objectsOf,
  pruneVersions,
  purgeDocument,
  removeUploadIntents,
  staleUploadIntents,
  stuckVersions,
} from "../db/queries/documents.ts";
import { purgeDeletedProjects } from "../db/queries/projects.ts";
import { expiredUploads, removeFinishedUploads, removeUploads } from "../db/queries/uploads.ts";
import { DELETED_DOCUMENT_GRACE_MS, type VersionRetentionPolicy, versionRetentionAt } from "../documents/retention.ts";
import { derivedEventId } from "../pkg/queue/events.ts";
import type { ProcessorServices } from "./context.ts";
import { failStuck } from "./documents/pipeline.ts";
import { maintainPartitions, type PartitionReport, type RetentionPolicy } from "./partitions.ts";

export interface SweepPolicy {
  /**
   * A version still `pending` this long after it was recorded may have lost its event (the API
   * publishes after its commit, and a send can fail): the event is published again.
   */
  redriveAfterMs: number;
  /** A version in a transient status untouched this long has lost its messages: it fails. */
  stuckAfterMs: number;
  /** An upload intent this old belongs to an upload that died between storage and database. */
  orphanAfterMs: number;
  /**
   * Deleted documents are purged (row and objects) after this grace, and deleted projects once
   * their documents are. A document is purged only once the database's clock agrees too
   * (`deletedBefore`): the API's restore reads the same clock (`DELETED_DOCUMENT_GRACE_MS`).
   */
  purgeAfterMs: number;
  /** Which old versions are pruned with their objects (`VERSION_RETENTION_*`). */
  versionRetention: VersionRetentionPolicy;
  /** At most this many of each per run (the next run continues). */
  batch: number;
  /**
   * How long the event tables (searches and clicks, notifications, webhook deliveries, security
   * events) keep their rows: whole months are dropped past it (`maintainPartitions`; the
   * processor's configuration overrides the defaults).
   */
  retention: RetentionPolicy;
  /** Expired mailed account tokens deleted per run, in one short transaction. */
  accountTokensBatch: number;
}

const HOUR = 60 * 60 * 1000;

/** Spent or expired mailed tokens stay a day past their expiry (src/db/schema/account-tokens.ts). */
const ACCOUNT_TOKENS_KEPT_MS = 24 * HOUR;

/**
 * Retries with backoff finish in minutes (src/processor/backoff.ts), and an upload streams for at
 * most a few hours, so these leave ample room before anything is called lost.
 */
export const DEFAULT_SWEEP_POLICY: SweepPolicy = {
  redriveAfterMs: 5 * 60 * 1000,
  stuckAfterMs: HOUR,
  orphanAfterMs: 24 * HOUR,
  purgeAfterMs: DELETED_DOCUMENT_GRACE_MS,
  versionRetention: { keepLatest: 20, dailyDays: 30 },
  batch: 100,
  retention: {
    searchEventsMs: 365 * 24 * HOUR,
    notificationsMs: 365 * 24 * HOUR,
    webhookDeliveriesMs: 90 * 24 * HOUR,
    auditMs: 365 * 24 * HOUR,
  },
  accountTokensBatch: 1_000,
};

export interface SweepReport {
  /** Pending versions whose `document.uploaded` was published again. */
  redriven: number;
  failed: number;
  orphansDeleted: number;
  /** Intents left behind by finished uploads: removed, their objects kept. */
  intentsCleared: number;
  purged: number;
  /** Deleted projects removed for good (their documents purged before them). */
  projectsPurged: number;
  /** Resumable uploads past their `expiresAt`: multipart upload aborted, rows removed. */
  uploadsAborted: number;
  /** The event tables' month partitions made ahead and dropped past their retention. */
  partitions: PartitionReport;
  /** Documents of accounts whose owner deleted them, purged with their objects. */
  accountDocumentsPurged: number;
  /** Accounts whose owner deleted them, erased for good (their row). */
  accountsErased: number;
  /** Mailed account tokens (verification, reset, change of address) a day past their expiry, deleted. */
  accountTokensPurged: number;
  /** Old versions pruned by the version retention (at most `batch` per run). */
  versionsPruned: number;
  /** Objects (documents bucket) of pruned versions that no other version named, deleted. */
  versionObjectsDeleted: number;
}

/**
 * The processor's cron: what lost its message is settled. Versions pending for minutes get their
 * event again (processing is idempotent), versions stuck in transit for an hour end `failed`
 * (their owner is told), objects of uploads that never got a row are deleted, resumable uploads past
 * their time are aborted, documents deleted long enough ago are purged with every object they had,
 * then deleted projects whose documents are all gone (a project's are deleted with it), and
 * accounts their owners deleted (documents with their objects, then the account's row); mailed
 * account tokens a day past their expiry are deleted, old versions are pruned by the version
 * retention (with the objects no other version names); the event tables get their coming months'
 * partitions, and lose whole months past their retention (security events included).
 */
export async function sweep(
  services: ProcessorServices,
  now: Date = new Date(),
  policy: SweepPolicy = {
    ...DEFAULT_SWEEP_POLICY,
    retention: services.config.retention,
    versionRetention: services.config.versionRetention,
  },
): Promise<SweepReport> {
  const { db } = services.database;
  const report: SweepReport = {
    redriven: 0,
    failed: 0,
    orphansDeleted: 0,
    intentsCleared: 0,
    purged: 0,
    projectsPurged: 0,
    uploadsAborted: 0,
    partitions: { created: [], dropped: [], blocked: [], defaultRowsDeleted: 0, deferred: [] },
    accountDocumentsPurged: 0,
    accountsErased: 0,
    accountTokensPurged: 0,
    versionsPruned: 0,
    versionObjectsDeleted: 0,
  };

  const waiting = await asActor(db, SYSTEM, (tx) =>
    stuckVersions(tx, {
      olderThan: new Date(now.getTime() - policy.redriveAfterMs),
      // Older ones are failed below.
      newerThan: new Date(now.getTime() - policy.stuckAfterMs),
      limit: policy.batch,
      statuses: ["pending"],
    }),
  );
  await services.documentEvents.publishAll(
    await Promise.all(
      waiting.map(async (version) => ({
        // One id per pending spell: redriving it again in the next run is the same event.
        id: await derivedEventId(
          "redrive",
          version.documentId,
          String(version.version),
          version.updatedAt.toISOString(),
        ),
        type: "document.uploaded" as const,
        documentId: version.documentId,
        documentVersion: version.version,
        requestId: "sweeper",
      })),
    ),
  );
  report.redriven = waiting.length;

  const stuck = await asActor(db, SYSTEM, (tx) =>
    stuckVersions(tx, { olderThan: new Date(now.getTime() - policy.stuckAfterMs), limit: policy.batch }),
  );
  const minutes = Math.round(policy.stuckAfterMs / 60_000);
  for (const version of stuck) {
    const detail = `processing did not finish: stuck ${version.status} for over ${minutes} minutes`;
    if (await failStuck(services, { documentId: version.documentId, version: version.version, detail }))
      report.failed += 1;
  }

  const orphans = await asActor(db, SYSTEM, (tx) =>
    staleUploadIntents(tx, { olderThan: new Date(now.getTime() - policy.orphanAfterMs), limit: policy.batch }),
  );
  if (orphans.length > 0) {
    // A key that a version records is live whatever its intent says: only the intent goes.
    const unrecorded = orphans.filter((orphan) => !orphan.recorded).map((orphan) => orphan.key);
    await services.storage.deleteMany(unrecorded);
    await asActor(db, SYSTEM, (tx) => removeUploadIntents(tx, { storageKeys: orphans.map((orphan) => orphan.key) }));
    report.orphansDeleted = unrecorded.length;
    report.intentsCleared = orphans.length - unrecorded.length;
  }

  // Resumable uploads never completed: their parts are discarded in the store first, so a row is
  // only removed once nothing it names is left (an object already assembled has an intent, above).
  const expired = await asActor(db, SYSTEM, (tx) => expiredUploads(tx, { before: now, limit: policy.batch }));
  if (expired.length > 0) {
    const aborted: string[] = [];
    for (const upload of expired) {
      await services.multipart.abort({ key: upload.storageKey, uploadId: upload.multipartUploadId });
      aborted.push(upload.id);
    }
    // Only rows still expired: none can have been taken meanwhile (a completion or part needs an unexpired upload).
    report.uploadsAborted = await asActor(db, SYSTEM, (tx) => removeUploads(tx, { ids: aborted, before: now }));
  }
  // A completed upload's row only answers a repeated completion; it goes with the purge's grace.
  await asActor(db, SYSTEM, (tx) =>
    removeFinishedUploads(tx, { before: new Date(now.getTime() - policy.purgeAfterMs) }),
  );

  const deleted = await asActor(db, SYSTEM, (tx) =>
    deletedBefore(tx, {
      before: new Date(now.getTime() - policy.purgeAfterMs),
      graceMs: policy.purgeAfterMs,
      limit: policy.batch,
    }),
  );
  for (const id of deleted) {
    if (await purgeWithObjects(services, id)) report.purged += 1;
  }

  // Accounts their owners deleted (DELETE /users/me): their documents now, whatever the grace
  // (the owner asked for erasure), then the account's row once none is left.
  const erasing = await asActor(db, SYSTEM, (tx) => accountsToErase(tx, { limit: policy.batch }));
  for (const userId of erasing) {
    const owned = await asActor(db, SYSTEM, (tx) => documentsToErase(tx, { userId, limit: policy.batch }));
    for (const id of owned) {
      if (await purgeWithObjects(services, id)) report.accountDocumentsPurged += 1;
    }
    if (await asActor(db, SYSTEM, (tx) => eraseAccount(tx, { userId }))) report.accountsErased += 1;
  }

  // After the documents: a project deleted with its documents goes in the run that purges the last of them.
  const projects = await asActor(db, SYSTEM, (tx) =>
    purgeDeletedProjects(tx, { before: new Date(now.getTime() - policy.purgeAfterMs), limit: policy.batch }),
  );
  report.projectsPurged = projects.length;

  report.accountTokensPurged = await asActor(db, SYSTEM, (tx) =>
    purgeExpiredAccountTokens(tx, {
      expiredBefore: new Date(now.getTime() - ACCOUNT_TOKENS_KEPT_MS),
      limit: policy.accountTokensBatch,
    }),
  );

  const pruned = await pruneOldVersions(services, versionRetentionAt(policy.versionRetention, now), policy.batch);
  report.versionsPruned = pruned.versions;
  report.versionObjectsDeleted = pruned.objects;

  report.partitions = await maintainPartitions(db, now, policy.retention);
  return report;
}

/**
/**
 * Version retention, one bounded step per run: at most `limit` versions (`pruneVersions`: rows and
 * text in one transaction, with upload intents for the objects no version names any more), then
 * those objects and the thumbnails and renditions no version of their document has, then the
 * intents. Two storage requests per run (DeleteObjects takes up to 1,000 keys), whatever the
 * backlog: a retention shortened on a large database is worked off run by run. If storage fails,
 * the intents remain and the orphan rule above deletes the objects a day later (thumbnails of that
 * run stay behind: nothing names them).
 */
async function pruneOldVersions(
  services: ProcessorServices,
  retention: ReturnType<typeof versionRetentionAt>,
  limit: number,
): Promise<{ versions: number; objects: number }> {
  const { db } = services.database;
  const documentIds = await asActor(db, SYSTEM, (tx) => documentsToThin(tx, { retention, limit }));
  if (documentIds.length === 0) return { versions: 0, objects: 0 };
  const pruned = await asActor(db, SYSTEM, (tx) => pruneVersions(tx, { documentIds, retention, limit }));
  if (pruned.versions === 0) return { versions: 0, objects: 0 };
  await services.storage.deleteMany(pruned.objects);
  await services.thumbnails.deleteMany(pruned.thumbnails);
  if (pruned.objects.length > 0)
    await asActor(db, SYSTEM, (tx) => removeUploadIntents(tx, { storageKeys: pruned.objects }));
  return { versions: pruned.versions, objects: pruned.objects.length };
}

/**
 * Purges one document for good: its objects and thumbnails first (if storage fails, the row stays
 * and the next run tries again), then its row and what hangs on it (`purgeDocument`).
 * @returns false when another run (a slow one overlapping this) purged it meanwhile
 */
async function purgeWithObjects(services: ProcessorServices, id: string): Promise<boolean> {
  const { db } = services.database;
  const objects = await asActor(db, SYSTEM, (tx) => objectsOf(tx, id));
  await services.storage.deleteMany(objects.objects);
  await services.thumbnails.deleteMany(objects.thumbnails);
  try {
    await asActor(db, SYSTEM, (tx) => purgeDocument(tx, { id }));
    return true;
  } catch (error) {
    if (!(error instanceof NoRowsAffectedError)) throw error;
    return false;
  }
}
