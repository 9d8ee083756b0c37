import { asActor, SYSTEM } from "../db/actor.ts";
import type { Database } from "../db/client.ts";
import { serverError } from "../db/errors.ts";
import {
  createMonthPartition,
  deleteFromDefault,
  dropMonthPartition,
  type MonthPartition,
  monthPartitions,
  type PartitionedTable,
} from "../db/queries/partitions.ts";

/**
 * How long each family of event tables keeps its rows, in ms (the processor's configuration:
 * `SEARCH_EVENTS_RETENTION_DAYS`, `NOTIFICATIONS_RETENTION_DAYS`,
 * `WEBHOOK_DELIVERIES_RETENTION_DAYS`, `AUDIT_RETENTION_DAYS`).
 */
export interface RetentionPolicy {
  /** Searches and their clicks. */
  searchEventsMs: number;
  notificationsMs: number;
  /** At most `notificationsMs` in effect: a delivery's month goes with its notification's (the foreign key). */
  webhookDeliveriesMs: number;
  /** Security events (the audit log). */
  auditMs: number;
}

/** Months made ahead of the current one, so inserts never wait for the sweeper: three 10-minute runs a month would do. */
export const MONTHS_AHEAD = 3;

/** How long a drop waits for its table's lock before giving up until the next run. */
const DROP_LOCK_TIMEOUT_MS = 2_000;

export interface PartitionReport {
  /** Month partitions made, `<table>_pYYYYMM`. */
  created: string[];
  /** Month partitions dropped whole, their rows past the retention. */
  dropped: string[];
  /**
   * Months not made because the table's DEFAULT partition holds rows of them (PostgreSQL refuses
   * a partition whose rows the DEFAULT already has): those rows stay in the DEFAULT until the
   * retention deletes them there.
   */
  blocked: string[];
  /** Rows past the retention deleted from DEFAULT partitions (rows outside every month made). */
  defaultRowsDeleted: number;
  /** Drops left to the next run: the table's lock was not had within the timeout. */
  deferred: string[];
}

/** A table and the one partitioned on its key (whose months must go before its own), if any. */
interface Family {
  parent: PartitionedTable;
  child?: PartitionedTable;
}

const FAMILIES: readonly Family[] = [
  { parent: "search_queries", child: "search_clicks" },
  { parent: "notifications", child: "webhook_deliveries" },
  { parent: "audit_events" },
];

function retentionOf(table: PartitionedTable, retention: RetentionPolicy): number {
  switch (table) {
    case "search_queries":
    case "search_clicks":
      return retention.searchEventsMs;
    case "notifications":
      return retention.notificationsMs;
    case "webhook_deliveries":
      return Math.min(retention.webhookDeliveriesMs, retention.notificationsMs);
    case "audit_events":
      return retention.auditMs;
  }
}

const partitionName = (table: PartitionedTable, month: Date) =>
  `${table}_p${month.getUTCFullYear()}${String(month.getUTCMonth() + 1).padStart(2, "0")}`;

const monthAfter = (at: Date, months: number) => new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + months, 1));

/**
 * The months of `months` to drop at `now` under a retention of `retentionMs`: those whose newest
 * possible row, an instant before their end, is older than the retention (their end is at or
 * before `now - retentionMs`). A month still holding one row young enough is kept whole, so rows
 * live between the retention and a month more.
 */
export function expiredMonths<M extends Pick<MonthPartition, "to">>(
  months: readonly M[],
  now: Date,
  retentionMs: number,
): M[] {
  const cutoff = now.getTime() - retentionMs;
  return months.filter((month) => month.to.getTime() <= cutoff);
}

/**
 * The partition maintenance of the sweeper's run at `now`, as the system, one short transaction
 * per step:
 *   - makes this month's partition and the next `MONTHS_AHEAD` of every partitioned table;
 *   - drops whole each month partition whose newest possible row (just before its end) is older
 *     than its table's retention, a child's month before its parent's (the foreign key refuses
 *     the other order); rows of that month left in the child's DEFAULT partition are deleted first;
 *   - deletes the rows past the retention from the DEFAULT partitions (rows of months never made).
 * A table's rows are thus kept at least its retention and at most a month more.
 */
export async function maintainPartitions(
  db: Database,
  now: Date,
  retention: RetentionPolicy,
): Promise<PartitionReport> {
  const report: PartitionReport = { created: [], dropped: [], blocked: [], defaultRowsDeleted: 0, deferred: [] };
  for (const { parent, child } of FAMILIES) {
    for (const table of child ? [parent, child] : [parent]) {
      for (let ahead = 0; ahead <= MONTHS_AHEAD; ahead += 1) {
        const month = monthAfter(now, ahead);
        const status = await asActor(db, SYSTEM, (tx) => createMonthPartition(tx, table, month));
        if (status === "created") report.created.push(partitionName(table, month));
        if (status === "blocked") report.blocked.push(partitionName(table, month));
      }
    }
    for (const table of child ? [child, parent] : [parent]) {
      const retentionMs = retentionOf(table, retention);
      const cutoff = new Date(now.getTime() - retentionMs);
      const months = await asActor(db, SYSTEM, (tx) => monthPartitions(tx, table));
      for (const month of expiredMonths(months, now, retentionMs)) {
        try {
          await asActor(db, SYSTEM, async (tx) => {
            // The child's rows of this month outside its month partitions reference it too.
            if (table === parent && child) {
              report.defaultRowsDeleted += await deleteFromDefault(tx, child, { from: month.from, before: month.to });
            }
            await dropMonthPartition(tx, table, month.name, DROP_LOCK_TIMEOUT_MS);
          });
          report.dropped.push(month.name);
        } catch (error) {
          // lock_not_available: a long transaction holds the table; the next run tries again.
          if (serverError(error)?.code !== "55P03") throw error;
          report.deferred.push(month.name);
        }
      }
      report.defaultRowsDeleted += await asActor(db, SYSTEM, (tx) => deleteFromDefault(tx, table, { before: cutoff }));
    }
  }
  return report;
}
