/**
 * The SESSIONS objects' outbox (`sessions_outbox`, src/db/schema/sessions-outbox.ts): a change
 * writes its row in its own statement or transaction; the API worker's cron applies the rows left
 * a minute and deletes them. Statements return what `applyRevocation` (src/durable-objects/sessions.ts)
 * takes, times as epoch ms.
 */
import { inArray, type SQL, sql } from "drizzle-orm";
import type { Queryable } from "../actor.ts";
import { type SessionsOutboxReason, sessionsOutbox } from "../schema/sessions-outbox.ts";

/** One row as applied: `notBefore` epoch ms (null: the principal only); `keyIds` the keys revoked. */
export type SessionsWork = {
  id: number;
  userId: string;
  reason: SessionsOutboxReason;
  notBefore: number | null;
  keepSessionId: string | null;
  keyIds: string[];
};

/** The columns of `SessionsWork`, from the outbox row `row` (a table or a CTE's name). */
export const sessionsWorkColumns = (row: SQL) => sql`
  ${row}.id::float8 as "id", ${row}.user_id as "userId", ${row}.reason as "reason",
  (extract(epoch from ${row}.not_before) * 1000)::float8 as "notBefore",
  ${row}.keep_session_id as "keepSessionId", ${row}.key_ids::text[] as "keyIds"`;

/**
 * The CTE body queueing the end of the sessions of `userId` (a uuid expression) issued before now
 * (`clock_timestamp()`), but `keepSessionId`, with the live copies of the keys `keyIds` (an
 * expression: an array of the ids a CTE revoked): `queued as (<this>)`. With `when`, only if it holds.
 */
export function queueRevocation(params: {
  userId: SQL;
  reason: SessionsOutboxReason;
  keepSessionId?: string | null | undefined;
  keyIds: SQL;
  when?: SQL;
}): SQL {
  return sql`
    insert into ${sessionsOutbox} (user_id, reason, not_before, keep_session_id, key_ids)
    select ${params.userId}, ${params.reason}, clock_timestamp(), ${params.keepSessionId ?? null}::text,
           coalesce(${params.keyIds}, '{}')
    where ${params.when ?? sql`true`}
    returning *`;
}

/**
 * Queues a read of the user's principal again (a role, status or permission change, an account
 * deleted): for the change's transaction or batch. As staff or a delegated administrator.
 */
export function queuePrincipalSync(db: Queryable, params: { userId: string; reason: SessionsOutboxReason }) {
  return db.insert(sessionsOutbox).values({ userId: params.userId, reason: params.reason, notBefore: null });
}

/** Rows written before `olderThan`, oldest first, at most `limit` (`SessionsWork`). As the system. */
export function selectPendingSessionsWork(db: Pick<Queryable, "select">, params: { olderThan: Date; limit: number }) {
  return db
    .select({
      id: sql<number>`${sessionsOutbox.id}::float8`.mapWith(Number),
      userId: sessionsOutbox.userId,
      reason: sessionsOutbox.reason,
      notBefore: sql<number | null>`(extract(epoch from ${sessionsOutbox.notBefore}) * 1000)::float8`.mapWith(Number),
      keepSessionId: sessionsOutbox.keepSessionId,
      keyIds: sessionsOutbox.keyIds,
    })
    .from(sessionsOutbox)
    .where(sql`${sessionsOutbox.createdAt} < ${params.olderThan.toISOString()}::timestamptz`)
    .orderBy(sessionsOutbox.id)
    .limit(params.limit);
}

/** Deletes the rows `ids` (applied). As the system. */
export function removeSessionsWork(db: Pick<Queryable, "delete">, params: { ids: number[] }) {
  return db.delete(sessionsOutbox).where(inArray(sessionsOutbox.id, params.ids));
}
