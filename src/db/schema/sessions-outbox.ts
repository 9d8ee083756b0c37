import { sql } from "drizzle-orm";
import { bigint, check, index, pgPolicy, pgTable, text, timestamp, uuid, varchar } from "drizzle-orm/pg-core";
import { isStaff, staffOr } from "./rls.ts";

/**
 * Why a user's SESSIONS object has work waiting: credentials changed or recovered (its sessions
 * end), or the account's role, status or permissions changed (its stored principal is read again).
 */
export const SESSIONS_OUTBOX_REASONS = [
  "password_reset",
  "password_changed",
  "temporary_password_set",
  "mfa_reset",
  "account_deleted",
  "principal_changed",
] as const;
export type SessionsOutboxReason = (typeof SESSIONS_OUTBOX_REASONS)[number];

/**
 * The transactional outbox of the SESSIONS objects: a change in Postgres that a user's sessions
 * must follow (a password reset ends them; a disabled account's are refused) writes a row here in
 * its own statement or transaction, so the change and the duty to apply it commit together. The
 * request applies it to the user's object after the commit; the API worker's cron applies every row
 * older than a minute again (applying twice changes nothing) and deletes it, so a SESSIONS outage
 * between the commit and that call delays the effect by minutes instead of losing it.
 *
 * - `notBefore`: every session (and single sign-on session, and unredeemed authorization code)
 *   issued before it ends, but `keepSessionId` (the session that changed its own password); null
 *   when only the principal is read again.
 * - `keyIds`: the API keys the change revoked in Postgres, whose live copies go (and stay gone).
 *
 * Only the server and staff write and read them (a delegated administrator's change writes one
 * too); no foreign key, so a row outlives the account's erasure until it is applied.
 */
export const sessionsOutbox = pgTable(
  "sessions_outbox",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    userId: uuid("user_id").notNull(),
    reason: varchar("reason", { length: 32 }).$type<SessionsOutboxReason>().notNull(),
    notBefore: timestamp("not_before", { withTimezone: true }),
    keepSessionId: text("keep_session_id"),
    keyIds: uuid("key_ids").array().notNull().default(sql`'{}'`),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().default(sql`clock_timestamp()`),
  },
  (t) => [
    index("sessions_outbox_created_idx").on(t.createdAt),
    check(
      "sessions_outbox_reason_check",
      sql.raw(`reason in (${SESSIONS_OUTBOX_REASONS.map((r) => `'${r}'`).join(", ")})`),
    ),
    pgPolicy("sessions_outbox_write", {
      for: "insert",
      withCheck: staffOr("users:manage", "permissions:manage"),
    }),
    pgPolicy("sessions_outbox_staff", { for: "all", using: isStaff, withCheck: isStaff }),
  ],
).enableRLS();

export type SessionsOutboxRow = typeof sessionsOutbox.$inferSelect;
