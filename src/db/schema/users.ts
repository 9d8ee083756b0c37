import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  integer,
  jsonb,
  pgPolicy,
  pgTable,
  primaryKey,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from "drizzle-orm/pg-core";
import { timestamps } from "./columns.ts";
import { actorId, actorRole, isStaff, ownedBy, staffOr } from "./rls.ts";

export const USER_ROLES = ["user", "admin"] as const;
export type UserRole = (typeof USER_ROLES)[number];
export const USER_STATUSES = ["active", "disabled"] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

/**
 * Fine-grained permissions on top of the role. Administrators hold all of them; a user holds those
 * granted in `user_permissions`. A route declares the one it needs (`requirePermission`), and
 * row-level security honours the same names. Who may grant or use the delegated ones on whom is
 * decided by the grant rules (`src/auth/grant-rules.ts`); the role vocabulary is `USER_ROLES` above.
 */
export const PERMISSIONS = {
  "users:read": "List and read any user's profile.",
  "users:write": "Edit another user's profile, email or username (never an admin's, never one's own identity).",
  "users:manage":
    "Disable, enable or delete users, and set their role (never an admin, never oneself; only admins grant admin).",
  "permissions:manage": "Grant and revoke, to others who are not admins, the permissions one holds oneself.",
  "documents:read": "Read any document.",
  "documents:manage": "Reprocess documents and see the processing of any document.",
  "analytics:read": "Read search analytics and business metrics.",
} as const;

export type Permission = keyof typeof PERMISSIONS;

export const PERMISSION_NAMES = Object.keys(PERMISSIONS) as Permission[];

export type UserPreferences = Record<string, unknown>;

const inList = (values: readonly string[]) => values.map((v) => `'${v}'`).join(", ");

/** The document's `users` table, plus profile fields and preferences. Emails are stored lower-cased. */
export const users = pgTable(
  "users",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    email: varchar("email", { length: 255 }).notNull(),
    username: varchar("username", { length: 100 }).notNull(),
    // Never leaves the service: the user JSON and the listing queries leave it out.
    passwordHash: varchar("password_hash", { length: 255 }).notNull(),
    role: varchar("role", { length: 50 }).$type<UserRole>().notNull().default("user"),
    status: varchar("status", { length: 20 }).$type<UserStatus>().notNull().default("active"),
    emailVerified: boolean("email_verified").notNull().default(false),
    displayName: varchar("display_name", { length: 100 }),
    bio: varchar("bio", { length: 500 }),
    avatarUrl: varchar("avatar_url", { length: 2048 }),
    locale: varchar("locale", { length: 35 }),
    timezone: varchar("timezone", { length: 64 }),
    preferences: jsonb("preferences").$type<UserPreferences>().notNull().default({}),
    lastLoginAt: timestamp("last_login_at", { withTimezone: true }),
    /**
     * Keycloak's `UPDATE_PASSWORD` required action: set with a temporary password (an
     * administrator's), cleared by the user's own change. Only the server writes it (migration 0033).
     */
    passwordChangeRequired: boolean("password_change_required").notNull().default(false),
    /**
     * When the user asked for their account to be deleted (`DELETE /users/me`): the account is
     * disabled then, and the sweeper erases it. Only the server writes it (migration 0033).
     */
    deletionRequestedAt: timestamp("deletion_requested_at", { withTimezone: true }),
    ...timestamps,
  },
  (t) => [
    uniqueIndex("users_email_key").on(t.email),
    uniqueIndex("users_username_key").on(sql`lower(${t.username})`),
    check("users_role_check", sql.raw(`role in (${inList(USER_ROLES)})`)),
    check("users_status_check", sql.raw(`status in (${inList(USER_STATUSES)})`)),
    check("users_email_lower_check", sql`${t.email} = lower(${t.email})`),
    // A user reads and updates their own row; other rows need staff or a delegated permission.
    // Editing and managing users includes finding them (an update reads the row it changes).
    pgPolicy("users_read", {
      for: "select",
      using: sql`${t.id} = ${actorId} or ${staffOr("users:read", "users:write", "users:manage")}`,
    }),
    pgPolicy("users_update", {
      for: "update",
      using: sql`${t.id} = ${actorId} or ${staffOr("users:write", "users:manage")}`,
      withCheck: sql`${t.id} = ${actorId} or ${staffOr("users:write", "users:manage")}`,
    }),
    pgPolicy("users_insert", { for: "insert", withCheck: isStaff }),
    pgPolicy("users_delete", { for: "delete", using: staffOr("users:manage") }),
  ],
).enableRLS();

/** Fine-grained permissions on top of the role, as in the document. */
export const userPermissions = pgTable(
  "user_permissions",
  {
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    permission: varchar("permission", { length: 100 }).notNull(),
    grantedAt: timestamp("granted_at", { withTimezone: true }).notNull().defaultNow(),
    grantedBy: uuid("granted_by").references(() => users.id, { onDelete: "set null" }),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.permission] }),
    pgPolicy("user_permissions_read", {
      for: "select",
      using: sql`${t.userId} = ${actorId} or ${staffOr("permissions:manage", "users:read")}`,
    }),
    pgPolicy("user_permissions_write", {
      for: "all",
      using: staffOr("permissions:manage"),
      withCheck: staffOr("permissions:manage"),
    }),
  ],
).enableRLS();

/** TOTP (RFC 6238) enrolment: the secret is stored encrypted; `enabledAt` is set once confirmed. */
export const userMfa = pgTable(
  "user_mfa",
  {
    userId: uuid("user_id")
      .primaryKey()
      .references(() => users.id, { onDelete: "cascade" }),
    secretCiphertext: varchar("secret_ciphertext", { length: 512 }).notNull(),
    enabledAt: timestamp("enabled_at", { withTimezone: true }),
    // The last accepted time step: a code at or before it is a replay.
    lastUsedStep: bigint("last_used_step", { mode: "number" }),
    // SHA-256 hashes of the unused one-time recovery codes.
    recoveryCodeHashes: jsonb("recovery_code_hashes").$type<string[]>().notNull().default([]),
    // When the recovery codes were handed out; null for codes from before migration 0035, which had
    // 50 bits (ten characters) instead of 120: their holder is asked to regenerate them.
    recoveryCodesIssuedAt: timestamp("recovery_codes_issued_at", { withTimezone: true }),
    ...timestamps,
  },
  (t) => [ownedBy("user_mfa", sql`${t.userId}`)],
).enableRLS();

/** Accounts at third-party OpenID providers linked to a user. */
export const oauthIdentities = pgTable(
  "oauth_identities",
  {
    provider: varchar("provider", { length: 64 }).notNull(),
    subject: varchar("subject", { length: 255 }).notNull(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    email: varchar("email", { length: 255 }).notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.provider, t.subject] }),
    pgPolicy("oauth_identities_read", { for: "select", using: sql`${t.userId} = ${actorId} or ${isStaff}` }),
    pgPolicy("oauth_identities_write", { for: "all", using: isStaff, withCheck: isStaff }),
  ],
).enableRLS();

export const LOCKOUT_BUCKETS = ["password", "second_factor"] as const;
export type LockoutBucket = (typeof LOCKOUT_BUCKETS)[number];

/**
 * Accounts whose LOGIN_THROTTLE bucket started refusing attempts (the throttle's Durable Objects
 * cannot be listed): written only when a bucket locks, removed when it succeeds again or an
 * administrator unlocks it, so `GET /users/locked` can list them. Never written on a login that
 * does not lock.
 */
export const accountLockouts = pgTable(
  "account_lockouts",
  {
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** Which of the account's buckets: its password, or its second factor. */
    bucket: varchar("bucket", { length: 32 }).$type<LockoutBucket>().notNull(),
    lockedAt: timestamp("locked_at", { withTimezone: true }).notNull().defaultNow(),
    /** Attempts the bucket had counted when it locked. */
    attempts: integer("attempts").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.bucket] }),
    check("account_lockouts_bucket_check", sql.raw(`bucket in (${inList(LOCKOUT_BUCKETS)})`)),
    pgPolicy("account_lockouts_read", { for: "select", using: staffOr("users:manage") }),
    // The server records and clears them (a lock, a success, an unlock after the grant rules).
    pgPolicy("account_lockouts_write", {
      for: "all",
      using: sql`${actorRole} = 'system'`,
      withCheck: sql`${actorRole} = 'system'`,
    }),
  ],
).enableRLS();

export type User = typeof users.$inferSelect;
export type NewUser = typeof users.$inferInsert;
export type UserMfa = typeof userMfa.$inferSelect;
