import { sql } from "drizzle-orm";
import type { Permission } from "../auth/permissions.ts";
import type { Database } from "./client.ts";
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
 * another request.
 */
export function asActor<T>(db: Database, actor: Actor, work: (tx: Transaction) => Promise<T>): Promise<T> {
  const userId = actor.kind === "user" ? actor.userId : "";
  const role = actor.kind === "user" ? actor.role : "system";
  const permissions = actor.kind === "user" ? actor.permissions.join(",") : "";
  return db.transaction(async (tx) => {
    await tx.execute(
      sql`select set_config('app.user_id', ${userId}, true), set_config('app.role', ${role}, true), set_config('app.permissions', ${permissions}, true)`,
    );
    return work(tx);
  });
}
