/**
 * API keys' durable records (`api_keys`). Every function returns the statement unexecuted, for a
 * `batchAsActor` batch (HTTP mode; those taking a `Queryable` serve both modes): a key is created
 * or revoked, with its security event, in one round trip.
 */
import { and, desc, eq, sql } from "drizzle-orm";
import type { Queryable } from "../actor.ts";
import type { HttpQueryBuilder } from "../client.ts";
import { type ApiKey, apiKeys } from "../schema/api-keys.ts";
import { auditEvents } from "../schema/audit.ts";
import { type RequestOrigin, SECURITY_EVENT_COLUMNS, securityEventValues } from "./audit.ts";

/** A new key's record, as `insertApiKeyWithinCap` writes it. */
export interface NewApiKeyRecord {
  id: string;
  userId: string;
  projectId: string | null;
  name: string;
  scopes: string[];
  secretHash: string;
  lastCharacters: string;
  expiresAt: Date;
}

/**
 * Serialises the key creations of one user for the rest of the transaction (a transaction-level
 * advisory lock), so that concurrent creations cannot pass the per-user cap together.
 */
export const lockUserKeys = (db: Queryable, userId: string) =>
  db
    .select({ locked: sql`pg_advisory_xact_lock(hashtextextended(${`api_keys:${userId}`}, 0))` })
    .from(sql`(select 1) as advisory`);

/**
 * What decides whether a key may be created: how many unrevoked keys the user holds and, for a
 * project key, the acting user's role in that live project (null when not a member, or no such
 * project). Run it as the creator (the role is the acting user's, `project_role`).
 */
export const selectKeyCreationFacts = (db: Queryable, params: { userId: string; projectId: string | null }) =>
  db
    .select({
      unrevoked: sql<number>`(select count(*)::int from ${apiKeys} where ${apiKeys.userId} = ${params.userId} and ${apiKeys.revokedAt} is null)`,
      projectRole: sql<
        string | null
      >`case when ${params.projectId}::uuid is null then null else project_role(${params.projectId}::uuid) end`,
    })
    .from(sql`(select 1) as facts_row`);

/**
 * Inserts the key only if the user holds fewer than `max` unrevoked keys and, for a project key,
 * the acting user is a member of that live project; returns the row, or nothing when refused.
 */
export const insertApiKeyWithinCap = (db: Queryable, key: NewApiKeyRecord, max: number) => {
  const allowed = sql`(select count(*) from ${apiKeys} where ${apiKeys.userId} = ${key.userId} and ${apiKeys.revokedAt} is null) < ${max}
    and (${key.projectId}::uuid is null or project_role(${key.projectId}::uuid) is not null)`;
  return db
    .insert(apiKeys)
    .select(
      sql`select ${key.id}::uuid, ${key.userId}::uuid, ${key.projectId}::uuid, ${key.name}, array[${sql.join(
        key.scopes.map((scope) => sql`${scope}`),
        sql`, `,
      )}]::text[], ${key.secretHash}, ${key.lastCharacters}, now(), ${key.expiresAt.toISOString()}::timestamptz,
        null::timestamptz, null::uuid, null::timestamptz, null::varchar where ${allowed}`,
    )
    .returning();
};

/** The user's keys, revoked ones included, newest first. */
export const selectApiKeys = (db: Queryable, params: { userId: string }) =>
  db.select().from(apiKeys).where(eq(apiKeys.userId, params.userId)).orderBy(desc(apiKeys.createdAt), desc(apiKeys.id));

/** One key of the user, revoked or not. */
export const selectApiKey = (db: Queryable, params: { userId: string; id: string }) =>
  db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.id, params.id), eq(apiKeys.userId, params.userId)))
    .limit(1);

/**
 * Revokes one key of the user, keeping its last use (from the SESSIONS object, which drops the
 * live copy); idempotent: an already revoked key keeps its first revocation and is returned as
 * well. A key revoked by this very transaction has `revokedAt` equal to the transaction's `now()`.
 */
export const revokeApiKeyRecord = (
  db: Queryable,
  params: { userId: string; id: string; revokedBy: string; lastUsedAt?: Date | null; lastUsedIp?: string | null },
) =>
  db
    .update(apiKeys)
    .set({
      revokedAt: sql`coalesce(${apiKeys.revokedAt}, now())`,
      revokedBy: sql`coalesce(${apiKeys.revokedBy}, ${params.revokedBy}::uuid)`,
      lastUsedAt: sql`coalesce(${params.lastUsedAt?.toISOString() ?? null}::timestamptz, ${apiKeys.lastUsedAt})`,
      lastUsedIp: sql`coalesce(${params.lastUsedIp?.slice(0, 64) ?? null}, ${apiKeys.lastUsedIp})`,
    })
    .where(and(eq(apiKeys.id, params.id), eq(apiKeys.userId, params.userId)))
    .returning();

/** A key's security event, written only if `when` holds for the key in this transaction. */
export interface KeyEvent {
  action: "api_key.created" | "api_key.revoked";
  keyId: string;
  actorId: string;
  targetUserId: string;
  origin: RequestOrigin;
  details: Record<string, unknown>;
}

/**
 * The insert of a key's security event (`audit_events`, as `recordSecurityEvent` writes them),
 * conditional on what this transaction did to the key: `created` when the key's row exists (its
 * insert may have been refused by the cap), `revoked` when this transaction revoked it (not an
 * earlier one). For the same batch as the change, after it.
 */
export const recordKeyEvent = (db: HttpQueryBuilder, event: KeyEvent) => {
  const happened =
    event.action === "api_key.created"
      ? sql`exists (select 1 from ${apiKeys} where ${apiKeys.id} = ${event.keyId})`
      : sql`exists (select 1 from ${apiKeys} where ${apiKeys.id} = ${event.keyId} and ${apiKeys.revokedAt} = now())`;
  const { keyId, details, ...recorded } = event;
  return db.execute(
    sql`insert into ${auditEvents} (${SECURITY_EVENT_COLUMNS})
      select ${securityEventValues({ ...recorded, details: { keyId, ...details } })}
      where ${happened}`,
  );
};

export type { ApiKey };
