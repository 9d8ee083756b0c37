import { and, asc, desc, eq, getTableColumns, ilike, or, sql } from "drizzle-orm";
import type { KeysetCursor } from "../../pkg/pagination/cursor.ts";
import { firstRow, type Queryable, type Transaction } from "../actor.ts";
import { expectRows } from "../affected.ts";
import { changedAt } from "../schema/columns.ts";
import type { Permission } from "../schema/users.ts";
import {
  accountLockouts,
  type LockoutBucket,
  type NewUser,
  oauthIdentities,
  type User,
  type UserMfa,
  type UserRole,
  type UserStatus,
  userMfa,
  userPermissions,
  users,
} from "../schema/users.ts";

// Every function runs under an actor, so row-level security sees who asks. Two modes
// (src/db/client.ts):
// - `async` functions taking a `Transaction` run in the WebSocket mode, inside `asActor`: the
//   locks (`lockUser`, the advisory locks) and every write decided on what the transaction read
//   first (grant rules, preconditions).
// - `select…`/`record…` functions taking a `Queryable` return the statement unexecuted: awaited in
//   an `asActor` transaction they run there, returned from a `batchAsActor` build they join one
//   HTTP batch (one round trip) with the statements beside them. Reads, and writes that decide
//   nothing before writing, are written this way; the `async` reader of the same name wraps them.

/** A user without the password hash: what may leave the service. */
export type PublicUser = Omit<User, "passwordHash">;

const { passwordHash: _omitted, ...publicColumns } = getTableColumns(users);

export async function insertUser(tx: Transaction, values: NewUser): Promise<PublicUser> {
  const [row] = await tx.insert(users).values(values).returning(publicColumns);
  if (!row) throw new Error("insert returned no row");
  return row;
}

/**
 * The account to log in, by email (case-insensitive, as stored) or username (case-insensitive),
 * with its password hash and MFA enrolment (`mfa`, null when none) in one statement. Both modes;
 * the token endpoint batches it (one round trip before the password check).
 */
export function selectUserForLogin(db: Queryable, params: { login: string }) {
  const login = params.login.trim().toLowerCase();
  return db
    .select({ user: users, mfa: userMfa })
    .from(users)
    .leftJoin(userMfa, eq(userMfa.userId, users.id))
    .where(or(eq(users.email, login), eq(sql`lower(${users.username})`, login)))
    .limit(1);
}

/** By email (case-insensitive, as stored) or username (case-insensitive), for login. */
export async function findUserForLogin(tx: Transaction, params: { login: string }): Promise<User | undefined> {
  return firstRow(await selectUserForLogin(tx, params))?.user;
}

/** By email or username (case-insensitive), without the password hash: zero or one row. Both modes. */
export function selectUserByLogin(db: Queryable, params: { login: string }) {
  const login = params.login.trim().toLowerCase();
  return db
    .select(publicColumns)
    .from(users)
    .where(or(eq(users.email, login), eq(sql`lower(${users.username})`, login)))
    .limit(1);
}

/** By email or username (case-insensitive), without the password hash. */
export async function findUserByLogin(tx: Transaction, params: { login: string }): Promise<PublicUser | undefined> {
  return firstRow(await selectUserByLogin(tx, params));
}

export async function findUserByEmail(tx: Transaction, params: { email: string }): Promise<PublicUser | undefined> {
  const [row] = await tx.select(publicColumns).from(users).where(eq(users.email, params.email.toLowerCase())).limit(1);
  return row;
}

/** The user by id, without the password hash (zero or one row). Both modes. */
export function selectUser(db: Queryable, params: { id: string }) {
  return db.select(publicColumns).from(users).where(eq(users.id, params.id)).limit(1);
}

export async function getUser(tx: Transaction, params: { id: string }): Promise<PublicUser | undefined> {
  return firstRow(await selectUser(tx, params));
}

/**
 * The user as `getUser` reads them, with the row locked (`for update`) until the transaction ends:
 * a conditional write evaluates its preconditions on this and writes in the same transaction.
 */
export async function lockUser(tx: Transaction, params: { id: string }): Promise<PublicUser | undefined> {
  const [row] = await tx.select(publicColumns).from(users).where(eq(users.id, params.id)).limit(1).for("update");
  return row;
}

/**
 * The permissions the user holds (`user_permissions`; empty for none or no such user), whether
 * or not the actor may read them: the grant rule "held" on credential changes needs them
 * (src/auth/grant-rules.ts). Reads through the database function `user_permissions_of`, which the
 * grant trigger uses too (migration 0034).
 */
export async function getUserPermissions(tx: Transaction, params: { id: string }): Promise<Permission[]> {
  const rows = await tx.execute<{ permissions: string[] | null }>(
    sql`select user_permissions_of(${params.id}::uuid) as permissions`,
  );
  return permissionsOf((rows.rows[0]?.permissions ?? []).map((permission) => ({ permission })));
}

/**
 * The user's role, or undefined when there is no such user, whether or not the actor may read the
 * user's row: deciding a grant (src/auth/grant-rules.ts, "only admins touch admins") needs it, and
 * managing permissions does not need `users:read`. Reads through the database function
 * `users_role_of`, which the grant trigger uses too.
 */
export async function getUserRole(tx: Transaction, params: { id: string }): Promise<UserRole | undefined> {
  const rows = await tx.execute<{ role: UserRole | null }>(sql`select users_role_of(${params.id}::uuid) as role`);
  return rows.rows[0]?.role ?? undefined;
}

/**
 * What checking the user's own password needs: id, username, status and password hash (zero or
 * one row). Both modes; read as the system (the hash is the server's).
 */
export function selectCredentials(db: Queryable, params: { id: string }) {
  return db
    .select({
      id: users.id,
      username: users.username,
      email: users.email,
      status: users.status,
      passwordHash: users.passwordHash,
    })
    .from(users)
    .where(eq(users.id, params.id))
    .limit(1);
}

export async function getPasswordHash(tx: Transaction, params: { id: string }): Promise<string | undefined> {
  const [row] = await tx.select({ hash: users.passwordHash }).from(users).where(eq(users.id, params.id)).limit(1);
  return row?.hash;
}

export type UserChanges = Partial<
  Pick<
    NewUser,
    | "email"
    | "username"
    | "displayName"
    | "bio"
    | "avatarUrl"
    | "locale"
    | "timezone"
    | "preferences"
    | "role"
    | "status"
    | "emailVerified"
    | "passwordHash"
    | "lastLoginAt"
    | "passwordChangeRequired"
    | "deletionRequestedAt"
  >
>;

/**
 * Applies `changes` to the user, returning the row as changed (none if the actor may not change
 * it: row-level security filters the update). Both modes: a change that decides nothing first
 * (recording a login) is batched.
 */
export function recordUserChanges(db: Queryable, params: { id: string; changes: UserChanges }) {
  return db
    .update(users)
    .set({ ...params.changes, updatedAt: changedAt })
    .where(eq(users.id, params.id))
    .returning(publicColumns);
}

export async function updateUser(
  tx: Transaction,
  params: { id: string; changes: UserChanges },
): Promise<PublicUser | undefined> {
  return firstRow(await recordUserChanges(tx, params));
}

export async function deleteUser(tx: Transaction, params: { id: string }): Promise<boolean> {
  const deleted = await tx.delete(users).where(eq(users.id, params.id)).returning({ id: users.id });
  return deleted.length > 0;
}

export interface ListUsersParams {
  limit: number;
  role?: UserRole | undefined;
  status?: UserStatus | undefined;
  /** Matched against email and username. */
  search?: string | undefined;
  /** The last row of the previous page. */
  after?: KeysetCursor | undefined;
}

/**
 * Newest first, keyset-paginated on (created_at, id); one extra row tells if more follow. Both
 * modes; `usersPage` shapes the rows.
 */
export function selectUsersPage(db: Queryable, params: ListUsersParams) {
  const pattern = params.search ? `%${params.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : undefined;
  return db
    .select({ ...publicColumns, cursorAt: sql<string>`${users.createdAt}::text` })
    .from(users)
    .where(
      and(
        params.role ? eq(users.role, params.role) : undefined,
        params.status ? eq(users.status, params.status) : undefined,
        pattern ? or(ilike(users.email, pattern), ilike(users.username, pattern)) : undefined,
        params.after
          ? sql`(${users.createdAt}, ${users.id}) < (${params.after.createdAt}::timestamptz, ${params.after.id}::uuid)`
          : undefined,
      ),
    )
    .orderBy(desc(users.createdAt), desc(users.id))
    .limit(params.limit + 1);
}

/** The rows of `selectUsersPage`, each with its keyset cursor. */
export function usersPage(
  rows: Awaited<ReturnType<typeof selectUsersPage>>,
): (PublicUser & { cursor: KeysetCursor })[] {
  return rows.map(({ cursorAt, ...user }) => ({ ...user, cursor: { createdAt: cursorAt, id: user.id } }));
}

export async function listUsers(
  tx: Transaction,
  params: ListUsersParams,
): Promise<(PublicUser & { cursor: KeysetCursor })[]> {
  return usersPage(await selectUsersPage(tx, params));
}

/** The user's granted permissions, in order. Both modes; `permissionsOf` shapes the rows. */
export function selectPermissions(db: Queryable, params: { userId: string }) {
  return db
    .select({ permission: userPermissions.permission })
    .from(userPermissions)
    .where(eq(userPermissions.userId, params.userId))
    .orderBy(asc(userPermissions.permission));
}

/** The rows of `selectPermissions` as permissions. */
export const permissionsOf = (rows: readonly { permission: string }[]): Permission[] =>
  rows.map((row) => row.permission as Permission);

export async function listPermissions(tx: Transaction, params: { userId: string }): Promise<Permission[]> {
  return permissionsOf(await selectPermissions(tx, params));
}

/**
 * Serialises changes to a user's permissions until the transaction ends (a transaction-level
 * advisory lock keyed by the user; a row lock on the user would need users:write, which managing
 * permissions does not), so a conditional change evaluates its preconditions on the list it then
 * changes.
 */
export async function lockPermissions(tx: Transaction, params: { userId: string }): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`user_permissions:${params.userId}`}, 0))`);
}

/**
 * Serialises every delegated-administration write (role, status, deletion, attributes, grants;
 * src/auth/grant-rules.ts) until the transaction ends: one transaction-level advisory lock for all
 * of them, taken before any other lock, so that each is decided against the actor's state as the
 * previous one left it (two managers disabling each other commit in an order one after the other
 * allows) and no two of them can wait on each other's row locks. Administration is rare, so one
 * lock costs nothing that matters. OWASP API5 (function level authorization under concurrency).
 */
export async function lockDelegatedAdministration(tx: Transaction): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended('delegated_administration', 0))`);
}

/** What an account may do now, read from the database: its role, status and granted permissions. */
export interface AccountStanding {
  role: UserRole;
  status: UserStatus;
  permissions: Permission[];
}

/**
 * The account's current role, status and granted permissions, or undefined when there is no such
 * account. Row-level security lets every actor read its own row and grants, which is what the
 * delegated routes read this for (the actor's rights inside the writing transaction).
 */
export async function getAccountStanding(
  tx: Transaction,
  params: { id: string },
): Promise<AccountStanding | undefined> {
  const [row] = await tx
    .select({ role: users.role, status: users.status })
    .from(users)
    .where(eq(users.id, params.id))
    .limit(1);
  if (!row) return undefined;
  return { ...row, permissions: await listPermissions(tx, { userId: params.id }) };
}

export async function grantPermission(
  tx: Transaction,
  params: { userId: string; permission: Permission; grantedBy: string | null },
): Promise<void> {
  await tx
    .insert(userPermissions)
    .values({ userId: params.userId, permission: params.permission, grantedBy: params.grantedBy })
    .onConflictDoNothing();
}

export async function revokePermission(
  tx: Transaction,
  params: { userId: string; permission: Permission },
): Promise<boolean> {
  const deleted = await tx
    .delete(userPermissions)
    .where(and(eq(userPermissions.userId, params.userId), eq(userPermissions.permission, params.permission)))
    .returning({ userId: userPermissions.userId });
  return deleted.length > 0;
}

/** The user's MFA enrolment (zero or one row). Both modes. */
export function selectMfa(db: Queryable, params: { userId: string }) {
  return db.select().from(userMfa).where(eq(userMfa.userId, params.userId)).limit(1);
}

export async function getMfa(tx: Transaction, params: { userId: string }): Promise<UserMfa | undefined> {
  return firstRow(await selectMfa(tx, params));
}

/** Starts (or restarts) an enrolment that is not confirmed yet. */
export async function putPendingMfa(
  tx: Transaction,
  params: { userId: string; secretCiphertext: string },
): Promise<void> {
  await tx
    .insert(userMfa)
    .values({ userId: params.userId, secretCiphertext: params.secretCiphertext })
    .onConflictDoUpdate({
      target: userMfa.userId,
      set: {
        secretCiphertext: params.secretCiphertext,
        enabledAt: null,
        lastUsedStep: null,
        recoveryCodeHashes: [],
        recoveryCodesIssuedAt: null,
        updatedAt: sql`now()`,
      },
    });
}

export async function updateMfa(
  tx: Transaction,
  params: {
    userId: string;
    changes: Partial<Pick<UserMfa, "enabledAt" | "lastUsedStep" | "recoveryCodeHashes" | "recoveryCodesIssuedAt">>;
    /** Only if the stored step is still this one: two logins cannot both use one code. */
    expectLastUsedStep?: number | null;
  },
): Promise<boolean> {
  const stepGuard =
    params.expectLastUsedStep === undefined
      ? undefined
      : params.expectLastUsedStep === null
        ? sql`${userMfa.lastUsedStep} is null`
        : eq(userMfa.lastUsedStep, params.expectLastUsedStep);
  const updated = await tx
    .update(userMfa)
    .set({ ...params.changes, updatedAt: sql`now()` })
    .where(and(eq(userMfa.userId, params.userId), stepGuard))
    .returning({ userId: userMfa.userId });
  return updated.length > 0;
}

/** Removes one unused recovery code; false when it is not (or no longer) there. Atomic. */
export async function consumeRecoveryCode(tx: Transaction, params: { userId: string; hash: string }): Promise<boolean> {
  const updated = await tx
    .update(userMfa)
    .set({ recoveryCodeHashes: sql`${userMfa.recoveryCodeHashes} - ${params.hash}::text`, updatedAt: sql`now()` })
    .where(and(eq(userMfa.userId, params.userId), sql`jsonb_exists(${userMfa.recoveryCodeHashes}, ${params.hash})`))
    .returning({ userId: userMfa.userId });
  return updated.length > 0;
}

/** Removes the user's second factor; `NoRowsAffectedError` if there was none the actor could remove. */
export async function deleteMfa(tx: Transaction, params: { userId: string }): Promise<void> {
  const rows = await tx.delete(userMfa).where(eq(userMfa.userId, params.userId)).returning({ userId: userMfa.userId });
  expectRows(rows, "removing the second factor");
}

/** Removes the user's enrolment, confirmed or pending; false when there was none. */
export async function removeMfa(tx: Transaction, params: { userId: string }): Promise<boolean> {
  const rows = await tx.delete(userMfa).where(eq(userMfa.userId, params.userId)).returning({ userId: userMfa.userId });
  return rows.length > 0;
}

export async function findIdentity(
  tx: Transaction,
  params: { provider: string; subject: string },
): Promise<{ userId: string } | undefined> {
  const [row] = await tx
    .select({ userId: oauthIdentities.userId })
    .from(oauthIdentities)
    .where(and(eq(oauthIdentities.provider, params.provider), eq(oauthIdentities.subject, params.subject)))
    .limit(1);
  return row;
}

export async function linkIdentity(
  tx: Transaction,
  params: { provider: string; subject: string; userId: string; email: string },
): Promise<void> {
  await tx.insert(oauthIdentities).values(params).onConflictDoNothing();
}

/**
 * Records that the account's `bucket` started refusing attempts (its LOGIN_THROTTLE object locked),
 * or refreshes the record. As the system. Both modes.
 */
export function recordLockout(db: Queryable, params: { userId: string; bucket: LockoutBucket; attempts: number }) {
  return db
    .insert(accountLockouts)
    .values({ userId: params.userId, bucket: params.bucket, attempts: params.attempts })
    .onConflictDoUpdate({
      target: [accountLockouts.userId, accountLockouts.bucket],
      set: { lockedAt: sql`now()`, attempts: params.attempts },
    });
}

/** Forgets the account's lock records: of one bucket, or all of them. As the system. Both modes. */
export function clearLockouts(db: Queryable, params: { userId: string; bucket?: LockoutBucket }) {
  return db
    .delete(accountLockouts)
    .where(
      and(
        eq(accountLockouts.userId, params.userId),
        params.bucket ? eq(accountLockouts.bucket, params.bucket) : undefined,
      ),
    )
    .returning({ bucket: accountLockouts.bucket });
}

/**
 * Recorded lock-outs with their accounts, most recent first, keyset-paginated on (locked_at,
 * user_id) (an account's two buckets lock in different transactions, so never at one instant),
 * with one extra row telling if more follow. Both modes; `lockoutsPage` shapes the rows.
 */
export function selectLockoutsPage(db: Queryable, params: { limit: number; after?: KeysetCursor | undefined }) {
  return db
    .select({
      userId: accountLockouts.userId,
      bucket: accountLockouts.bucket,
      attempts: accountLockouts.attempts,
      lockedAt: accountLockouts.lockedAt,
      cursorAt: sql<string>`${accountLockouts.lockedAt}::text`,
      email: users.email,
      username: users.username,
    })
    .from(accountLockouts)
    .innerJoin(users, eq(users.id, accountLockouts.userId))
    .where(
      params.after
        ? sql`(${accountLockouts.lockedAt}, ${accountLockouts.userId}) < (${params.after.createdAt}::timestamptz, ${params.after.id}::uuid)`
        : undefined,
    )
    .orderBy(desc(accountLockouts.lockedAt), desc(accountLockouts.userId))
    .limit(params.limit + 1);
}

/** The rows of `selectLockoutsPage`, each with its keyset cursor. */
export function lockoutsPage(rows: Awaited<ReturnType<typeof selectLockoutsPage>>) {
  return rows.map(({ cursorAt, ...row }) => ({ ...row, cursor: { createdAt: cursorAt, id: row.userId } }));
}
