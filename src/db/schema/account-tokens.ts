import { sql } from "drizzle-orm";
import { check, index, pgPolicy, pgTable, timestamp, uniqueIndex, uuid, varchar } from "drizzle-orm/pg-core";
import { isStaff } from "./rls.ts";
import { users } from "./users.ts";

/**
 * What an account token proves when its link is followed: control of the account's address
 * (`verify_email`), of a new address the account asked to move to (`change_email`), or of the
 * account's mailbox to set a new password (`reset_password`). Keycloak's "action tokens".
 */
export const ACCOUNT_TOKEN_PURPOSES = ["verify_email", "change_email", "reset_password"] as const;
export type AccountTokenPurpose = (typeof ACCOUNT_TOKEN_PURPOSES)[number];

/**
 * Single-use tokens mailed as links (src/auth/account-tokens.ts). Only the SHA-256 of a token is
 * stored (ASVS v4.0.3 V2.5.x: a leaked table yields no usable link); a token is spent by setting
 * `used_at` in the statement that applies it, so a replay finds nothing. Rows stay until the
 * sweeper removes them a day after they expire: the recent ones are what the per-account limits
 * count. Only the server (and admins, who send resets) read or write them.
 */
export const accountTokens = pgTable(
  "account_tokens",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    purpose: varchar("purpose", { length: 32 }).$type<AccountTokenPurpose>().notNull(),
    /** Hex SHA-256 of the token sent. */
    tokenHash: varchar("token_hash", { length: 64 }).notNull(),
    /** The address the link was sent to: the account's (verify, reset) or the new one (change). */
    email: varchar("email", { length: 255 }).notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    usedAt: timestamp("used_at", { withTimezone: true }),
  },
  (t) => [
    uniqueIndex("account_tokens_hash_key").on(t.tokenHash),
    index("account_tokens_user_idx").on(t.userId, t.purpose, t.createdAt.desc()),
    index("account_tokens_expires_idx").on(t.expiresAt),
    check(
      "account_tokens_purpose_check",
      sql.raw(`purpose in (${ACCOUNT_TOKEN_PURPOSES.map((p) => `'${p}'`).join(", ")})`),
    ),
    check("account_tokens_email_lower_check", sql`${t.email} = lower(${t.email})`),
    pgPolicy("account_tokens_staff", { for: "all", using: isStaff, withCheck: isStaff }),
  ],
).enableRLS();

export type AccountToken = typeof accountTokens.$inferSelect;
