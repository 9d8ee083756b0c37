import { sql } from "drizzle-orm";
import type { BatchResponse } from "drizzle-orm/batch";
import { DrizzleQueryError } from "drizzle-orm/errors";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { Database, HttpDatabase, HttpQueryBuilder, HttpStatements, HttpTransactionOptions } from "./client.ts";
import { DatabaseUnreachableError, isDatabaseUnavailable, isHttpTransportError, serverError } from "./errors.ts";
import type * as schema from "./schema/index.ts";
import type { Permission, UserRole } from "./schema/users.ts";

/** Who a query runs for; row-level security (src/db/schema/rls.ts) reads it. */
export type Actor =
  | {
      kind: "user";
      userId: string;
      role: UserRole;
      permissions: readonly Permission[];
      /** Set for a request made with an API key bound to a project: only that project's documents are reachable. */
      projectId?: string | null;
    }
  /** The server itself, before a user is known: login, registration, token refresh. */
  | { kind: "system" };

export type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];

export const SYSTEM: Actor = { kind: "system" };

/**
 * What a statement is built on in either mode: a WebSocket transaction of `asActor` (awaiting the
 * statement runs it there) or the builder `batchAsActor` hands out (the statement is returned
 * into the batch). A query function taking `Queryable` and returning the unexecuted statement
 * serves both modes.
 */
export type Queryable = Pick<
  PgDatabase<PgQueryResultHKT, typeof schema>,
  "select" | "insert" | "update" | "delete" | "with"
>;

/** `batchAsActor`'s options for a batch that only reads (`BEGIN READ ONLY`). */
export const READ_ONLY: HttpTransactionOptions = { readOnly: true };

/** The first row of a statement's result, or undefined: for lookups by key (`limit 1`). */
export const firstRow = <T>(rows: readonly T[]): T | undefined => rows[0];

/**
 * The settings row-level security reads (src/db/schema/rls.ts), for one transaction: the user, role
 * and permissions, and the project an API key is bound to (empty for anyone else).
 */
function settings(actor: Actor) {
  const userId = actor.kind === "user" ? actor.userId : "";
  const role = actor.kind === "user" ? actor.role : "system";
  const permissions = actor.kind === "user" ? actor.permissions.join(",") : "";
  const projectId = (actor.kind === "user" && actor.projectId) || "";
  return sql`select set_config('app.user_id', ${userId}, true), set_config('app.role', ${role}, true), set_config('app.permissions', ${permissions}, true), set_config('app.project_id', ${projectId}, true)`;
}

/**
 * A statement of a `batchAsActor` batch after which the rest of the batch runs as `actor`: the
 * same transaction-local settings the batch began with. For a batch that ends with a read only
 * another actor may make, e.g. the search suggestions' popular queries, which the system
 * aggregates over everyone's searches after the caller's own reads. Put such statements last:
 * everything after this one runs with `actor`'s rights.
 */
export function actAs(db: HttpQueryBuilder, actor: Actor) {
  return db.execute(settings(actor));
}

/**
 * Runs the statements `build` returns through the HTTP mode (src/db/client.ts) as ONE Postgres
 * transaction in ONE HTTP request, with row-level security seeing `actor`: the settings
 * (`set_config(..., true)`, transaction-local) are the batch's first statement, so they hold for
 * every statement after them and for nothing else, exactly as in `asActor`. Resolves to the
 * statements' results in order (drizzle's `batch` shapes: rows for a select or `returning`, a
 * query result for `execute`), without the settings' row. `readOnly: true` starts the transaction
 * `READ ONLY` (Neon's `Neon-Batch-Read-Only`).
 *
 * For what can be said without reading first: reads, and writes whose conditions fit in their own
 * statements (`where`, `returning`, a CTE). A transaction that must read before it decides what to
 * write (locked rows, advisory locks, grant rules) needs `asActor` and the WebSocket mode.
 *
 * Only the statements `build` returns run: `build` is synchronous and gets builders that refuse
 * to run on their own (`HttpStatementOutsideTransactionError`), so a statement cannot slip out of
 * the batch and run without the settings.
 *
 * Throws `DatabaseUnreachableError` when the endpoint could not be reached (the HTTP mode's
 * transport failure), `DeadlineExceededError("postgres")` past the deadline, and the server's
 * `NeonDbError` (classified by SQLSTATE, src/db/errors.ts) when a statement failed; the whole
 * batch is then rolled back.
 */
export async function batchAsActor<T extends HttpStatements>(
  http: HttpDatabase,
  actor: Actor,
  build: (db: HttpQueryBuilder) => T,
  options: HttpTransactionOptions = {},
): Promise<BatchResponse<T>> {
  try {
    const [, ...results] = await http.transaction(
      (db) => [db.execute(settings(actor)), ...build(db)] as const,
      options,
    );
    // The results of `build`'s statements, in its order: the batch's tuple without its first member.
    return results as unknown as BatchResponse<T>;
  } catch (error) {
    if (isHttpTransportError(error)) throw new DatabaseUnreachableError(error);
    throw error;
  }
}

/**
 * Switches the row-level security of an `asActor` transaction to `actor` for the statements after
 * it (the settings are replaced, still transaction-local): a transaction that checks something as
 * the system (a quota, under its lock) and then writes as the user, in one transaction. The HTTP
 * mode's counterpart is `actAs`.
 */
export async function switchActor(tx: Transaction, actor: Actor): Promise<void> {
  await tx.execute(settings(actor));
}

/**
 * Runs `work` in a WebSocket-mode transaction (src/db/client.ts) whose row-level security sees
 * `actor`: for work that must read before it decides what to write (see `batchAsActor` for the
 * rest, in one round trip). The settings are
 * transaction-local (`set_config(..., true)`), so a pooled connection never carries them into
 * another request. A failure to obtain a connection (before the transaction began) throws
 * `DatabaseUnreachableError`, unless Postgres itself answered with an error (a `DatabaseError`,
 * classified by its SQLSTATE) or the statement is drizzle's (already a `DrizzleQueryError`).
 */
export async function asActor<T>(db: Database, actor: Actor, work: (tx: Transaction) => Promise<T>): Promise<T> {
  let began = false;
  try {
    return await db.transaction(async (tx) => {
      began = true;
      await tx.execute(settings(actor));
      return work(tx);
    });
  } catch (error) {
    // Before `began`, only the pool's connect ran: its failures are the driver's transport errors
    // (a WebSocket error event, "Connection terminated"), thrown bare, which nothing else could tell
    // from our own errors.
    if (began || isDatabaseUnavailable(error) || serverError(error) || error instanceof DrizzleQueryError) throw error;
    throw new DatabaseUnreachableError(error);
  }
}
