import { sql } from "drizzle-orm";
import {
  bigint,
  check,
  index,
  jsonb,
  pgPolicy,
  pgTable,
  primaryKey,
  timestamp,
  uuid,
  varchar,
} from "drizzle-orm/pg-core";
import { actorId, actorRole, isStaff } from "./rls.ts";

export const AUDIT_OUTCOMES = ["success", "failure"] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/**
 * Every security event the platform records, `<object>.<past-tense verb>`, with what it means and
 * what its `details` carry: the one list the recording (`recordSecurityEvent`), the `action`
 * filter of `GET /audit` and `GET /users/me/security-events`, and the README's table ("Audit log")
 * follow. Details never hold a secret (no password, token, code); a login's `method` is
 * `password`, `mfa` or `oidc`.
 */
export const AUDIT_ACTIONS = {
  "user.registered": "An account was created: `method` (`password`, or `oidc` with `provider`).",
  "user.login_succeeded":
    "A session started, or an OAuth authorization code or device approval was issued to a client: `method`, `provider` for OIDC, `grant` and `clientId` for the OAuth sign-in pages.",
  "user.login_failed":
    "A login was refused (outcome `failure`): `method`, `reason` (`invalid_credentials`, `unknown_user` with no target, `account_disabled`, `invalid_code`, `throttled`, `email_not_verified`, `provider_email_not_verified`), `provider` for OIDC.",
  "user.identity_linked": "A third-party identity was linked to an existing account by its verified email: `provider`.",
  "user.logged_out": "The caller ended their own session: `sessionId`.",
  "session.revoked": "One session was ended by its user: `sessionId`.",
  "user.sessions_revoked": "Every session of the user was ended by them: `count`.",
  "session.refresh_token_reused":
    "A rotated refresh token was presented again, so the session was ended (outcome `failure`): `sessionId`.",
  "oauth.code_replayed":
    "An OAuth authorization code was presented again, so the session it started was ended (outcome `failure`): `clientId`.",
  "mfa.enabled": "TOTP was turned on.",
  "mfa.disabled": "TOTP was turned off: `factor` (`otp` or `recovery_code`).",
  "user.role_changed": "Another user (an admin or a `users:manage` holder) changed the role: `from`, `to`.",
  "user.permission_granted": "A permission was granted (not one already held): `permission`.",
  "user.permission_revoked": "A permission was revoked (not one never held): `permission`.",
  "user.disabled": "The account was disabled (its sessions end).",
  "user.enabled": "The account was enabled again.",
  "user.deleted":
    "The account was deleted: by another user, its `email` and `username`, since the event outlives it; by its owner (`DELETE /users/me`), `self: true` (the sweeper erases the account after).",
  "user.profile_changed": "Another user changed the profile: `fields` (names only).",
  "user.email_changed":
    "The email changed: `from`, `to`. By another user (`users:write`; the address is unverified again), or by its owner following the link mailed to the new address (`by: link`; verified).",
  "user.email_verified": "The owner followed the verification link: the address is verified.",
  "user.email_change_requested":
    "The owner asked to move the account to another address (current password checked); it changes when the link mailed there is followed.",
  "user.password_reset_requested":
    "A password reset link was mailed: asked for by address (no actor), or sent by another user (`by: admin`, the actor).",
  "user.password_reset": "The password was set with a reset link: every session ended, the login throttle cleared.",
  "api_key.created":
    "An API key was created by its owner: `keyId`, `name`, `scopes`, `projectId` (null for a personal key), `expiresAt`.",
  "api_key.revoked":
    "An API key was revoked, by its owner or an administrator (the actor): `keyId`; with `reason` when a recovery or password change revoked every key of the account.",
  "mfa.recovery_codes_regenerated": "The user replaced their recovery codes (with a current code).",
  "user.password_changed": "The user changed their own password (their other sessions end).",
  "user.temporary_password_set":
    "Another user set a temporary password, to be changed at the next login (sessions end).",
  "mfa.reset": "Another user removed the account's second factor (sessions end).",
  "user.unlocked":
    "Another user cleared the account's login throttle: `buckets` (the lock-outs recorded, `password`, `second_factor`).",
  "user.data_exported": "The user downloaded the export of their data.",
} as const;
export type AuditAction = keyof typeof AUDIT_ACTIONS;
export const AUDIT_ACTION_NAMES = Object.keys(AUDIT_ACTIONS) as AuditAction[];

/** The most a security event's `details` may hold, in bytes of its JSON text. */
export const AUDIT_DETAILS_MAX_BYTES = 4096;

/**
 * The audit log of security events (logins, MFA, password and email changes, resets, API keys,
 * roles, permissions, admin actions). Append-only: each event is written in the transaction of
 * the change it describes (or alone, for what changes nothing: a failed login), never updated;
 * only the system deletes, when the retention ends: the sweeper drops whole months of it
 * (partitioned by month on `occurred_at`, migration 0038; src/processor/partitions.ts). Actor and
 * target are plain ids, not foreign keys: the record outlives the accounts it names.
 */
export const auditEvents = pgTable(
  "audit_events",
  {
    /** Increasing: the keyset order of `GET /audit` (newest first). */
    id: bigint("id", { mode: "number" }).notNull().generatedAlwaysAsIdentity(),
    occurredAt: timestamp("occurred_at", { withTimezone: true }).notNull().defaultNow(),
    /** What happened, `<object>.<past-tense verb>`: `user.login_succeeded`, `api_key.revoked`… */
    action: varchar("action", { length: 64 }).$type<AuditAction>().notNull(),
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
    // Partitioned by month on `occurred_at` (migration 0038): the key must be in the primary key.
    primaryKey({ columns: [t.id, t.occurredAt] }),
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
