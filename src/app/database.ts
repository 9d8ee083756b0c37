import type { BatchResponse } from "drizzle-orm/batch";
import type { Context } from "hono";
import { type Actor, asActor, batchAsActor, READ_ONLY, SYSTEM, type Transaction } from "../db/actor.ts";
import type { HttpQueryBuilder, HttpStatements } from "../db/client.ts";
import { callerOf } from "../gateway/authentication.ts";
import type { AppEnv } from "./context.ts";
import { staleReadsFor } from "./read-your-writes.ts";

/**
 * Postgres as one actor, for a handler: the one way routes say "as the caller" (`asCaller`) or
 * "as the system" (`asSystem`). Row-level security sees `actor` in every statement
 * (src/db/actor.ts). Each method throws what its `src/db/actor.ts` counterpart throws:
 * `DatabaseUnreachableError` (503), `DeadlineExceededError` past `DATABASE_TIMEOUT_MS` (503), the
 * server's error classified by SQLSTATE (src/db/errors.ts); a failed batch or transaction is rolled back whole.
 */
export interface ActorDatabase {
  readonly actor: Actor;
  /** `build`'s statements as one `BEGIN READ ONLY` transaction in one HTTP round trip (`batchAsActor`). */
  read<T extends HttpStatements>(build: (db: HttpQueryBuilder) => T): Promise<BatchResponse<T>>;
  /**
   * As `read`, for a route whose answer may be a little stale (README, "Read replica and
   * failover"): on the read replica when `DATABASE_READ_URL` is set, unless the caller wrote within
   * `DATABASE_READ_MAX_LAG_SECONDS`; on the primary when the replica is down, too slow or lagging.
   */
  readStale<T extends HttpStatements>(build: (db: HttpQueryBuilder) => T): Promise<BatchResponse<T>>;
  /** `build`'s statements, reads and writes, as one transaction in one HTTP round trip (`batchAsActor`). */
  write<T extends HttpStatements>(build: (db: HttpQueryBuilder) => T): Promise<BatchResponse<T>>;
  /**
   * `work` in one WebSocket transaction (`asActor`): for work that reads before it decides what to
   * write (locks, preconditions, grant rules). A round trip per statement after the connection's setup.
   */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
}

function actorDatabase(c: Context<AppEnv>, actor: Actor): ActorDatabase {
  const { database } = c.get("services");
  return {
    actor,
    read: (build) => batchAsActor(database.http, actor, build, READ_ONLY),
    readStale: (build) => batchAsActor(staleReadsFor(c, actor), actor, build, READ_ONLY),
    write: (build) => batchAsActor(database.http, actor, build),
    transaction: (work) => asActor(database.db, actor, work),
  };
}

/**
 * Postgres as the authenticated caller (their id, role and permissions), for a route declared with
 * `protectedRoute`. Throws `callerOf`'s 401 `ApiError` for an anonymous request.
 */
export const asCaller = (c: Context<AppEnv>): ActorDatabase => actorDatabase(c, callerOf(c).actor);

/**
 * Postgres as the server itself (row-level security's `system` role), for a handler that reads
 * what no single user may (the analytics reports over everyone's searches). Domain functions that
 * act as the system inside their own work (logins, quotas under their lock, looking a user up by
 * login to share with them) use `asActor(…, SYSTEM)` from src/db/actor.ts.
 */
export const asSystem = (c: Context<AppEnv>): ActorDatabase => actorDatabase(c, SYSTEM);
