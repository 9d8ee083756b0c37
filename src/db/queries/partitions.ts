import { sql } from "drizzle-orm";
import type { Transaction } from "../actor.ts";

/**
 * The tables partitioned by month (RANGE on a timestamp; migration 0038), each with its partition
 * key. A child's key is its parent's timestamp, so a search and its clicks, a notification and
 * its deliveries, share a month. drizzle does not declare partitioning: this list and the
 * migration are where it lives.
 */
export const PARTITION_KEYS = {
  search_queries: "created_at",
  search_clicks: "query_created_at",
  notifications: "created_at",
  webhook_deliveries: "notification_created_at",
  audit_events: "occurred_at",
} as const;
export type PartitionedTable = keyof typeof PARTITION_KEYS;

/** One month's partition: `<table>_pYYYYMM`, holding keys in [from, to) (UTC). */
export interface MonthPartition {
  name: string;
  from: Date;
  to: Date;
}

/** What `create_month_partition` (migration 0038) did: `blocked` when the DEFAULT partition holds rows of the month. */
export type PartitionCreation = "created" | "exists" | "blocked";

const MONTH_PARTITION = /_p(\d{4})(\d{2})$/;

/** The first instant (UTC) of the month `months` after the one holding `at`. */
export function monthStart(at: Date, months = 0): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + months, 1));
}

/**
 * Creates `table`'s partition for the UTC month holding `within` (with row-level security
 * enabled and forced, no policy of its own: read through the parent, the parent's apply). The
 * app role may: it owns the tables, as Neon's owner role does.
 */
export async function createMonthPartition(
  tx: Transaction,
  table: PartitionedTable,
  within: Date,
): Promise<PartitionCreation> {
  const result = await tx.execute<{ status: PartitionCreation }>(
    sql`select create_month_partition(${table}::regclass, ${within.toISOString()}::timestamptz) as status`,
  );
  const status = result.rows[0]?.status;
  if (!status) throw new Error("create_month_partition returned no row");
  return status;
}

/** `table`'s month partitions, oldest first (the DEFAULT partition is not one). */
export async function monthPartitions(tx: Transaction, table: PartitionedTable): Promise<MonthPartition[]> {
  const result = await tx.execute<{ name: string }>(
    sql`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
         where i.inhparent = ${table}::regclass order by c.relname`,
  );
  return result.rows.flatMap(({ name }) => {
    const match = MONTH_PARTITION.exec(name);
    if (!match) return [];
    const from = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, 1));
    return [{ name, from, to: monthStart(from, 1) }];
  });
}

/**
 * Detaches and drops one month partition of `table`: its rows go at once, without a row's
 * delete. Waits at most `lockTimeoutMs` for the parent's lock (detaching takes an exclusive one
 * for a moment); a timeout throws SQLSTATE 55P03 and changes nothing.
 */
export async function dropMonthPartition(
  tx: Transaction,
  table: PartitionedTable,
  partition: string,
  lockTimeoutMs: number,
): Promise<void> {
  await tx.execute(sql`select set_config('lock_timeout', ${`${lockTimeoutMs}ms`}, true)`);
  await tx.execute(sql`alter table ${sql.identifier(table)} detach partition ${sql.identifier(partition)}`);
  await tx.execute(sql`drop table ${sql.identifier(partition)}`);
}

/**
 * Deletes, as the system (the only actor the DEFAULT partitions' policy admits), the rows of
 * `table`'s DEFAULT partition whose key is before `before` (and from `from` on, if given): the
 * few rows outside the months made, which no partition drop removes. Returns how many.
 */
export async function deleteFromDefault(
  tx: Transaction,
  table: PartitionedTable,
  range: { before: Date; from?: Date | undefined },
): Promise<number> {
  const key = sql.identifier(PARTITION_KEYS[table]);
  const result = await tx.execute(
    sql`delete from ${sql.identifier(`${table}_default`)} where ${key} < ${range.before.toISOString()}::timestamptz
        ${range.from ? sql`and ${key} >= ${range.from.toISOString()}::timestamptz` : sql``}`,
  );
  return result.rowCount ?? 0;
}
