import { sql } from "drizzle-orm";
import { check, index, pgPolicy, pgTable, text, timestamp, uuid, varchar } from "drizzle-orm/pg-core";
import { actorId, isStaff } from "./rls.ts";
import { users } from "./users.ts";

/**
 * The durable record of an API key (personal access token): who holds it, what it may do, until
 * when, and whether it was revoked. The secret is never stored, only its SHA-256; the gateway
 * never reads this table: the live copy of each unrevoked key (and its last use) is in the owner's
 * SESSIONS object, which authenticates it (src/auth/api-keys.ts). Revoking keeps the row, for
 * the owner's listing and the audit trail; deleting the user deletes their keys.
 */
export const apiKeys = pgTable(
  "api_keys",
  {
    id: uuid("id").primaryKey(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /**
     * A project key reaches that project alone (its routes, its documents); null for a personal
     * key. No foreign key: when the project is purged the key stays bound to it, reaching nothing,
     * and stays listed and revocable (a cascade would leave its live copy unlisted).
     */
    projectId: uuid("project_id"),
    name: varchar("name", { length: 100 }).notNull(),
    /** What the key may do (`read`, `write`, and delegated permissions), as granted at creation. */
    scopes: text("scopes").array().notNull(),
    /** SHA-256 of the whole key, 64 lowercase hex characters. */
    secretHash: varchar("secret_hash", { length: 64 }).notNull().unique(),
    /** The key's last four characters, to tell keys apart in a listing. */
    lastCharacters: varchar("last_characters", { length: 8 }).notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    revokedAt: timestamp("revoked_at", { withTimezone: true }),
    /** Who revoked it: the owner, or an administrator. */
    revokedBy: uuid("revoked_by"),
    /**
     * The last use as of the revocation (time, client address), kept from the SESSIONS object when
     * the live copy is dropped; null while the key is live (its last use is read from there).
     */
    lastUsedAt: timestamp("last_used_at", { withTimezone: true }),
    lastUsedIp: varchar("last_used_ip", { length: 64 }),
  },
  (t) => [
    index("api_keys_user_created_idx").on(t.userId, t.createdAt.desc(), t.id.desc()),
    check("api_keys_expiry_check", sql`${t.expiresAt} > ${t.createdAt}`),
    check("api_keys_scopes_check", sql`cardinality(${t.scopes}) between 1 and 16`),
    // The owner sees and revokes their own keys; administrators (and the server) anyone's.
    pgPolicy("api_keys_owner_or_staff", {
      for: "all",
      using: sql`${t.userId} = ${actorId} or ${isStaff}`,
      withCheck: sql`${t.userId} = ${actorId} or ${isStaff}`,
    }),
  ],
).enableRLS();

export type ApiKey = typeof apiKeys.$inferSelect;
