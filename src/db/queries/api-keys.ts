/**
 * API keys' durable records (`api_keys`). Every function returns the statement unexecuted, for a
 * `batchAsActor` batch (HTTP mode; those taking a `Queryable` serve both modes): a key is created
 * or revoked, with its security event, in one round trip.
 */
import { and, desc, eq, type SQL, sql } from "drizzle-orm";
import type { Queryable } from "../actor.ts";
import type { HttpQueryBuilder } from "../client.ts";
import { type ApiKey, apiKeys } from "../schema/api-keys.ts";
import { auditEvents } from "../schema/audit.ts";
import { users } from "../schema/users.ts";
import { type RequestOrigin, SECURITY_EVENT_COLUMNS, securityEventValues } from "./audit.ts";
import { queueRevocation, sessionsWorkColumns } from "./sessions-outbox.ts";

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
 * project); the user's address, whether it is verified, and their role. Run it as the creator (the
 * role is the acting user's, `project_role`).
 */
export const selectKeyCreationFacts = (db: Queryable, params: { userId: string; projectId: string | null }) =>
  db
    .select({
      unrevoked: sql<number>`(select count(*)::int from ${apiKeys} where ${apiKeys.userId} = ${params.userId} and ${apiKeys.revokedAt} is null)`,
      projectRole: sql<
        string | null
      >`case when ${params.projectId}::uuid is null then null else project_role(${params.projectId}::uuid) end`,
      email: sql<string | null>`(select ${users.email} from ${users} where ${users.id} = ${params.userId}::uuid)`,
      emailVerified: sql<boolean>`coalesce((select ${users.emailVerified} from ${users} where ${users.id} = ${params.userId}::uuid), false)`,
      role: sql<string | null>`(select ${users.role} from ${users} where ${users.id} = ${params.userId}::uuid)`,
    })
    .from(sql`(select 1) as facts_row`);

/**
 * Inserts the key only if the user holds fewer than `max` unrevoked keys, their address is verified
 * (or they are an admin) and, for a project key, the acting user is a member of that live project;
 * returns the row, or nothing when refused.
 */
export const insertApiKeyWithinCap = (db: Queryable, key: NewApiKeyRecord, max: number) => {
  const allowed = sql`(select count(*) from ${apiKeys} where ${apiKeys.userId} = ${key.userId} and ${apiKeys.revokedAt} is null) < ${max}
    and (${key.projectId}::uuid is null or project_role(${key.projectId}::uuid) is not null)
    and exists (select 1 from ${users} where ${users.id} = ${key.userId}::uuid and (${users.emailVerified} or ${users.role} = 'admin'))`;
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

/** Why every key of a user was revoked at once (the `reason` of their `api_key.revoked` events). */
export type KeysRevocationReason = "password_reset" | "password_changed" | "temporary_password_set" | "mfa_reset";

/**
 * The statement revoking every unrevoked key of the user (a recovery or a change of credentials:
 * the keys may be an intruder's), recording one `api_key.revoked` (`keyId`, `reason`) per key, as
 * `actorId`, and queueing in the SESSIONS outbox the end of every session issued before it but
 * `keepSessionId`, with the keys' live copies. Returns the queued `SessionsWork` (one row), for
 * the caller to apply after its commit. SQL for `execute`, so that the HTTP batch (`db.execute`)
 * and a transaction (`tx.execute`) run the same one statement.
 */
export function revokeUserCredentials(params: {
  userId: string;
  revokedBy: string | null;
  actorId: string | null;
  reason: KeysRevocationReason;
  keepSessionId?: string | null | undefined;
  origin: RequestOrigin;
}): SQL {
  return sql`
    with revoked as (
      update ${apiKeys} set revoked_at = now(), revoked_by = ${params.revokedBy}::uuid
      where user_id = ${params.userId}::uuid and revoked_at is null
      returning id, user_id
    ), recorded as (
      insert into ${auditEvents} (${SECURITY_EVENT_COLUMNS})
      select ${securityEventValues({
        action: "api_key.revoked",
        actorId: params.actorId,
        origin: params.origin,
        targetUserId: sql`user_id`,
        details: sql`jsonb_build_object('keyId', id, 'reason', ${params.reason}::text)`,
      })}
      from revoked
    ), queued as (${queueRevocation({
      userId: sql`${params.userId}::uuid`,
      reason: params.reason,
      keepSessionId: params.keepSessionId,
      keyIds: sql`(select array_agg(id) from revoked)`,
    })})
    select ${sessionsWorkColumns(sql`queued`)} from queued`;
}
