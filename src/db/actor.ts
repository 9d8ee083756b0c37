import { sql } from "drizzle-orm";
import { DrizzleQueryError } from "drizzle-orm/errors";
import type { Permission } from "../auth/permissions.ts";
import type { Database } from "./client.ts";
import { DatabaseUnreachableError, isDatabaseUnavailable, serverError } from "./errors.ts";
import type { UserRole } from "./schema/users.ts";

/** Who a query runs for; row-level security (src/db/schema/rls.ts) reads it. */
export type Actor =
  | { kind: "user"; userId: string; role: UserRole; permissions: readonly Permission[] }
  /** The server itself, before a user is known: login, registration, token refresh. */
  | { kind: "system" };

export type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];

export const SYSTEM: Actor = { kind: "system" };

/**
 * Runs `work` in a transaction whose row-level security sees `actor`. The settings are
 * transaction-local (`set_config(..., true)`), so a pooled connection never carries them into
 * another request. A failure to obtain a connection (before the transaction began) throws
 * `DatabaseUnreachableError`, unless Postgres itself answered with an error (a `DatabaseError`,
 * classified by its SQLSTATE) or the statement is drizzle's (already a `DrizzleQueryError`).
 */
export async function asActor<T>(db: Database, actor: Actor, work: (tx: Transaction) => Promise<T>): Promise<T> {
  const userId = actor.kind === "user" ? actor.userId : "";
  const role = actor.kind === "user" ? actor.role : "system";
  const permissions = actor.kind === "user" ? actor.permissions.join(",") : "";
  let began = false;
  try {
    return await db.transaction(async (tx) => {
      began = true;
      await tx.execute(
        sql`select set_config('app.user_id', ${userId}, true), set_config('app.role', ${role}, true), set_config('app.permissions', ${permissions}, true)`,
      );
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
