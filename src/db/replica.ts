import { sql } from "drizzle-orm";
import type { BatchResponse } from "drizzle-orm/batch";
import { DATABASE_REPLICA_READS } from "../pkg/metrics/catalog.ts";
import { isolateMetrics } from "../pkg/metrics/recorder.ts";
import type { HttpDatabase, HttpQueryBuilder, HttpStatements, HttpTransactionOptions } from "./client.ts";
import { isDatabaseUnavailable, serverError } from "./errors.ts";

/**
 * How a read meant for the replica was served: `replica`; or by the primary because the replica
 * could not answer in time (`unavailable`) or had fallen too far behind (`lagging`).
 */
export type ReplicaReadOutcome = "replica" | "unavailable" | "lagging";

/** What the routing reports of a read that did not stay on the replica (for the request's log). */
export interface ReplicaFallback {
  outcome: Exclude<ReplicaReadOutcome, "replica">;
  /** The replica's replay lag when `lagging`, in seconds. */
  lagSeconds?: number;
  /** The replica's error when `unavailable`. */
  error?: unknown;
}

export interface ReplicaReadsOptions {
  /** The primary's HTTP mode (opened on first use). */
  primary: () => HttpDatabase;
  /** The replica's HTTP mode, whose deadline is the replica's short one (`DATABASE_READ_TIMEOUT_MS`). */
  replica: HttpDatabase;
  /** Past this replay lag (seconds) the primary serves the read (`DATABASE_READ_MAX_LAG_SECONDS`). */
  maxLagSeconds: number;
  onFallback(fallback: ReplicaFallback): void;
}

/**
 * The replica's replay lag in seconds, read in the same transaction as the statements it guards
 * (no extra round trip): 0 on a primary, and on a standby that has replayed everything it
 * received; else the age of the last transaction it replayed (`pg_last_xact_replay_timestamp()`;
 * PostgreSQL, "Recovery Information Functions"). A standby cut off from its primary receives
 * nothing and so reports 0: that staleness is seen by the replica's own monitoring, not here.
 */
export const REPLICA_LAG = sql`select (case
    when not pg_is_in_recovery() then 0
    when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
    else coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp()), 0)
  end)::float8 as lag`;

/**
 * SQLSTATE 40001 on a hot standby: a query cancelled because replaying the primary's changes
 * needed what it held (PostgreSQL, "Handling Query Conflicts"). The primary has no such conflict.
 */
const RECOVERY_CONFLICT = "40001";

/**
 * An `HttpDatabase` for reads that may be a little stale: a read-only transaction runs on the
 * replica, and on the primary when the replica does not answer within its deadline, answers that
 * it cannot serve now, or reports more than `maxLagSeconds` of lag (the read then costs one more
 * round trip). Anything that is not read-only goes to the primary: a write never reaches the
 * replica. Each replica read is counted in `techcorp_database_replica_reads_total` by outcome.
 * Throws what `HttpDatabase.transaction` throws, from the primary; the replica's own refusal of a
 * statement (a fault of the statement, not of the replica) is thrown as is.
 */
export function replicaReads(options: ReplicaReadsOptions): HttpDatabase {
  const fallBack = (fallback: ReplicaFallback) => {
    isolateMetrics.add(DATABASE_REPLICA_READS, { outcome: fallback.outcome });
    options.onFallback(fallback);
  };
  return {
    async transaction<T extends HttpStatements>(
      build: (db: HttpQueryBuilder) => T,
      transaction: HttpTransactionOptions = {},
    ): Promise<BatchResponse<T>> {
      if (!transaction.readOnly) return options.primary().transaction(build, transaction);
      let answered: readonly unknown[];
      try {
        answered = await options.replica.transaction(
          (db) => [db.execute(REPLICA_LAG), ...build(db)] as const,
          transaction,
        );
      } catch (error) {
        if (!isDatabaseUnavailable(error) && serverError(error)?.code !== RECOVERY_CONFLICT) throw error;
        fallBack({ outcome: "unavailable", error });
        return options.primary().transaction(build, transaction);
      }
      const [lagged, ...results] = answered as [{ rows: { lag?: unknown }[] }, ...unknown[]];
      const lagSeconds = Number(lagged.rows[0]?.lag ?? 0);
      if (lagSeconds > options.maxLagSeconds) {
        fallBack({ outcome: "lagging", lagSeconds });
        return options.primary().transaction(build, transaction);
      }
      isolateMetrics.add(DATABASE_REPLICA_READS, { outcome: "replica" });
      return results as unknown as BatchResponse<T>;
    },
  };
}
