import { sql } from "drizzle-orm";
import { bigint, check, index, jsonb, pgPolicy, pgTable, timestamp, uuid, varchar } from "drizzle-orm/pg-core";
import { actorId, actorRole, isStaff } from "./rls.ts";

export const AUDIT_OUTCOMES = ["success", "failure"] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** The most a security event's `details` may hold, in bytes of its JSON text. */
export const AUDIT_DETAILS_MAX_BYTES = 4096;

/**
 * The audit log of security events (logins, MFA, password and email changes, resets, API keys,
 * roles, permissions, admin actions). Append-only: each event is written in the transaction of
 * the change it describes (or alone, for what changes nothing: a failed login), never updated;
 * only the system deletes, when the retention ends. Actor and target are plain ids, not foreign
 * keys: the record outlives the accounts it names.
 */
export const auditEvents = pgTable(
  "audit_events",
  {
    /** Increasing: the keyset order of `GET /audit` (newest first). */
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    occurredAt: timestamp("occurred_at", { withTimezone: true }).notNull().defaultNow(),
    /** What happened, `<object>.<past-tense verb>`: `user.login_succeeded`, `api_key.revoked`… */
    action: varchar("action", { length: 64 }).notNull(),
    outcome: varchar("outcome", { length: 16 }).$type<AuditOutcome>().notNull().default("success"),
    /** Who acted: a user, or null for the server itself or an anonymous caller. */
    actorId: uuid("actor_id"),
    /** Whose account the event concerns; their own security events are those naming them here. */
    targetUserId: uuid("target_user_id"),
    /** The client address of the request, as the gateway saw it. */
    ip: varchar("ip", { length: 64 }),
    userAgent: varchar("user_agent", { length: 512 }),
    requestId: varchar("request_id", { length: 128 }),
    /** What else the event needs to be understood (the new role, a key's id…); never a secret. */
    details: jsonb("details").$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [
    index("audit_events_target_idx").on(t.targetUserId, t.id.desc()),
    index("audit_events_actor_idx").on(t.actorId, t.id.desc()),
    index("audit_events_action_idx").on(t.action, t.id.desc()),
    index("audit_events_occurred_idx").on(t.occurredAt),
    check("audit_events_outcome_check", sql`${t.outcome} in ('success', 'failure')`),
    check(
      "audit_events_details_size_check",
      sql.raw(`jsonb_typeof(details) = 'object' and octet_length(details::text) <= ${AUDIT_DETAILS_MAX_BYTES}`),
    ),
    // Staff read everything; a user reads the events about their own account.
    pgPolicy("audit_events_read", { for: "select", using: sql`${t.targetUserId} = ${actorId} or ${isStaff}` }),
    // A user records only what they did themselves; the server and admins record for anyone.
    pgPolicy("audit_events_insert", {
      for: "insert",
      withCheck: sql`${t.actorId} is not distinct from ${actorId} or ${isStaff}`,
    }),
    // No update policy: nobody rewrites history. Only the system deletes (the retention sweep).
    pgPolicy("audit_events_delete", { for: "delete", using: sql`${actorRole} = 'system'` }),
  ],
).enableRLS();

export type AuditEvent = typeof auditEvents.$inferSelect;
export type NewAuditEvent = typeof auditEvents.$inferInsert;
