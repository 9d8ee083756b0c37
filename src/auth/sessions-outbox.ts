import { batchAsActor, READ_ONLY, SYSTEM } from "../db/actor.ts";
import type { HttpDatabase } from "../db/client.ts";
import { removeSessionsWork, type SessionsWork, selectPendingSessionsWork } from "../db/queries/sessions-outbox.ts";
import type { Logger } from "../pkg/logger/logger.ts";
import { syncPrincipal } from "./auth-service.ts";
import type { SessionLifetimes } from "./required-actions.ts";
import { applyRevocation, type SessionsNamespace } from "./user-sessions.ts";

export interface OutboxPolicy {
  /** A row this old (ms) was left by its request (applied or not): the cron applies it again. */
  settleAfterMs: number;
  /**
   * Rows per run. Each user costs one SESSIONS call per revocation, one Postgres read and one more
   * SESSIONS call (the principal): 100 rows stay well under the 1,000 subrequests of a paid
   * Worker's invocation (Cloudflare Workers limits, "Subrequests").
   */
  batch: number;
}

/** The API worker's cron runs every minute (wrangler.toml `[triggers]`): a row waits 1–2 minutes. */
export const DEFAULT_OUTBOX_POLICY: OutboxPolicy = { settleAfterMs: 60_000, batch: 100 };

export interface OutboxDeps {
  http: HttpDatabase;
  sessions: SessionsNamespace;
  staffLifetimes: SessionLifetimes;
  logger: Logger;
}

/**
 * The SESSIONS outbox's cron (src/db/schema/sessions-outbox.ts): each row older than
 * `settleAfterMs` is applied to its user's object again (`applyRevocation`, which changes nothing
 * the second time), the user's principal is read again from Postgres and stored there, and the
 * rows applied are deleted. A user whose object cannot be reached keeps their rows for the next
 * run (logged as a warning).
 * Postgres: 1 read, 1 read per user, 1 delete. @returns the rows applied and the users that failed
 * @throws DatabaseUnreachableError and the driver's errors when the outbox cannot be read or cleared
 */
export async function settleSessionsOutbox(
  deps: OutboxDeps,
  policy: OutboxPolicy = DEFAULT_OUTBOX_POLICY,
  now = new Date(),
): Promise<{ applied: number; failedUsers: number }> {
  const [pending] = await batchAsActor(
    deps.http,
    SYSTEM,
    (db) => [
      selectPendingSessionsWork(db, { olderThan: new Date(now.getTime() - policy.settleAfterMs), limit: policy.batch }),
    ],
    READ_ONLY,
  );
  const byUser = Map.groupBy(pending as SessionsWork[], (work) => work.userId);
  const applied: number[] = [];
  let failedUsers = 0;
  for (const [userId, works] of byUser) {
    try {
      for (const work of works) {
        if (work.notBefore !== null || work.keyIds.length > 0) await applyRevocation(deps.sessions, work);
      }
      await syncPrincipal({ http: deps.http, sessions: deps.sessions, staffLifetimes: deps.staffLifetimes }, userId);
      applied.push(...works.map((work) => work.id));
    } catch (error) {
      failedUsers += 1;
      deps.logger.warn("sessions outbox: a user's changes could not be applied; the next run retries", {
        userId,
        rows: works.length,
        error,
      });
    }
  }
  if (applied.length > 0) await batchAsActor(deps.http, SYSTEM, (db) => [removeSessionsWork(db, { ids: applied })]);
  return { applied: applied.length, failedUsers };
}
