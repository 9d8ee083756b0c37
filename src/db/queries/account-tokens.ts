import { and, eq, inArray, isNull, lt, sql } from "drizzle-orm";
import type { Queryable } from "../actor.ts";
import type { HttpQueryBuilder } from "../client.ts";
import { type AccountTokenPurpose, accountTokens } from "../schema/account-tokens.ts";
import type { AuditAction } from "../schema/audit.ts";
import { type RequestOrigin, SECURITY_EVENT_COLUMNS, securityEventValues } from "./audit.ts";
import { queueRevocation, type SessionsWork, sessionsWorkColumns } from "./sessions-outbox.ts";

// Account tokens (src/db/schema/account-tokens.ts): issued and spent in single statements that
// state their own conditions (CTEs), so each flow is one HTTP batch: the functions taking an
// `HttpQueryBuilder` return the statement unexecuted for a `batchAsActor` batch; those taking a
// `Queryable` serve both modes. They run as the system (the table is the server's).

/** A token to store: the hash of what is mailed, for how long, to which address. */
export interface TokenToIssue {
  purpose: AccountTokenPurpose;
  tokenHash: string;
  ttlSeconds: number;
}

/** The security event a statement records beside its change (src/db/queries/audit.ts). */
export interface TokenEvent {
  action: AuditAction;
  actorId: string | null;
  origin: RequestOrigin;
}

/**
 * Issues a token for the account `userId` to its current address when `when` holds of it (SQL on
 * the alias `u`, the user's row, e.g. not yet verified). Returns `{ user_id, email }` of the token
 * issued, or no row. Records nothing: what it leads to (the verification) is the event.
 */
export function issueTokenForUser(
  db: HttpQueryBuilder,
  params: { userId: string; token: TokenToIssue; when?: ReturnType<typeof sql> },
) {
  const { token } = params;
  return db.execute<{ user_id: string; email: string }>(sql`
    insert into account_tokens (user_id, purpose, token_hash, email, expires_at)
    select u.id, ${token.purpose}, ${token.tokenHash}, u.email, now() + make_interval(secs => ${token.ttlSeconds})
    from users u
    where u.id = ${params.userId}::uuid and u.status = 'active' and (${params.when ?? sql`true`})
    returning user_id, email`);
}

/**
 * The transaction-level advisory lock of the password resets of an address: the statement before
 * `issueResetForAddress` in its batch, so that concurrent requests count one after another (a
 * statement's snapshot is taken when it starts, so the lock cannot be taken inside it).
 */
export function lockResetsOfAddress(db: HttpQueryBuilder, params: { email: string }) {
  return db.execute(
    sql`select pg_advisory_xact_lock(hashtextextended(${`password-reset:${params.email.toLowerCase()}`}, 0))`,
  );
}

/**
 * A password reset asked for by address: issues a `reset_password` token when an active account
 * has `email` and fewer than `perHour` were issued to it in the last hour (OWASP Forgot Password
 * Cheat Sheet: rate limit per account), recording `user.password_reset_requested`. Run it after
 * `lockResetsOfAddress` in one batch. An unknown address costs the same statement and returns no
 * row.
 */
export function issueResetForAddress(
  db: HttpQueryBuilder,
  params: { email: string; token: Omit<TokenToIssue, "purpose">; perHour: number; event: TokenEvent },
) {
  const email = params.email.toLowerCase();
  return db.execute<{ user_id: string; email: string }>(sql`
    with account as (
      select u.id, u.email from users u
      where u.email = ${email} and u.status = 'active'
        and (select count(*) from account_tokens t
             where t.user_id = u.id and t.purpose = 'reset_password' and t.created_at > now() - interval '1 hour')
            < ${params.perHour}
    ), issued as (
      insert into account_tokens (user_id, purpose, token_hash, email, expires_at)
      select id, 'reset_password', ${params.token.tokenHash}, email, now() + make_interval(secs => ${params.token.ttlSeconds})
      from account
      returning user_id, email
    ), recorded as (
      insert into audit_events (${SECURITY_EVENT_COLUMNS})
      select ${securityEventValues({ ...params.event, targetUserId: sql`user_id` })} from issued
    )
    select user_id, email from issued`);
}

/**
 * A change of address: voids the account's earlier pending `change_email` tokens and issues one
 * to `newEmail` unless an account already holds that address (checked again when it is spent),
 * recording `user.email_change_requested` whichever way (the event does not say whether the
 * address was free: the account's owner reads their events). Returns the token issued, or no row.
 */
export function issueEmailChange(
  db: HttpQueryBuilder,
  params: { userId: string; newEmail: string; token: Omit<TokenToIssue, "purpose">; event: TokenEvent },
) {
  const email = params.newEmail.toLowerCase();
  return db.execute<{ user_id: string; email: string }>(sql`
    with voided as (
      update account_tokens set used_at = now()
      where user_id = ${params.userId}::uuid and purpose = 'change_email' and used_at is null
    ), issued as (
      insert into account_tokens (user_id, purpose, token_hash, email, expires_at)
      select u.id, 'change_email', ${params.token.tokenHash}, ${email}, now() + make_interval(secs => ${params.token.ttlSeconds})
      from users u
      where u.id = ${params.userId}::uuid and u.status = 'active'
        and not exists (select 1 from users taken where taken.email = ${email})
      returning user_id, email
    ), recorded as (
      insert into audit_events (${SECURITY_EVENT_COLUMNS})
      select ${securityEventValues({ ...params.event, targetUserId: params.userId })}
    )
    select user_id, email from issued`);
}

/**
 * Spends a `verify_email` or `change_email` token (unused, unexpired) and applies it in the same
 * statement: `verify_email` marks the account verified if its address is still the one the link
 * went to; `change_email` moves the account to the new address, verified, and voids its other
 * pending tokens (a reset link sent to the old address included). Records `user.email_verified` or
 * `user.email_changed` (`from`, `to`). Returns `{ user_id, purpose, email, previous_email }` when applied; no
 * row for an unknown, used, expired or other-purpose token. A `change_email` to an address taken
 * meanwhile fails the whole statement with the unique violation of `users_email_key` (nothing
 * spent: the caller answers 409).
 */
export function spendEmailToken(db: HttpQueryBuilder, params: { tokenHash: string; origin: RequestOrigin }) {
  const event = (action: AuditAction) => ({ action, actorId: null, origin: params.origin });
  return db.execute<{ user_id: string; purpose: AccountTokenPurpose; email: string; previous_email: string }>(sql`
    with spent as (
      update account_tokens set used_at = now()
      where token_hash = ${params.tokenHash} and purpose in ('verify_email', 'change_email')
        and used_at is null and expires_at > now()
      returning id, user_id, purpose, email
    ), previous as (
      select u.id, u.email from users u join spent s on s.user_id = u.id
    ), applied as (
      update users u set email = s.email, email_verified = true, updated_at = clock_timestamp()
      from spent s
      where u.id = s.user_id and u.status = 'active' and (s.purpose = 'change_email' or u.email = s.email)
      returning u.id, s.purpose, u.email
    ), voided as (
      update account_tokens t set used_at = now()
      from applied a, spent s
      where a.purpose = 'change_email' and t.user_id = a.id and t.id <> s.id and t.used_at is null
    ), recorded as (
      insert into audit_events (${SECURITY_EVENT_COLUMNS})
      select ${securityEventValues({ ...event("user.email_verified"), targetUserId: sql`a.id` })}
      from applied a where a.purpose = 'verify_email'
      union all
      select ${securityEventValues({
        ...event("user.email_changed"),
        targetUserId: sql`a.id`,
        details: sql`jsonb_build_object('from', p.email, 'to', a.email, 'by', 'link')`,
      })}
      from applied a join previous p on p.id = a.id where a.purpose = 'change_email'
    )
    select a.id as user_id, a.purpose, a.email, p.email as previous_email from applied a join previous p on p.id = a.id`);
}

/**
 * The username of the account a live `reset_password` token (unused, unexpired) is for, so the new
 * password can be checked against it before the token is spent; no row otherwise.
 */
export function selectResetUsername(db: HttpQueryBuilder, params: { tokenHash: string }) {
  return db.execute<{ username: string }>(sql`
    select u.username from account_tokens t join users u on u.id = t.user_id
     where t.token_hash = ${params.tokenHash} and t.purpose = 'reset_password' and t.used_at is null
       and t.expires_at > now()`);
}

/**
 * Spends a `reset_password` token (unused, unexpired, still for the account's address) and sets
 * `passwordHash` in the same statement; the account's address counts as verified (the link
 * reached it), and every other pending token of the account is voided (earlier reset links and a
 * pending change of address), and every unrevoked API key of the account is revoked (one created
 * by whoever held the account before may be an intruder's). Records `user.password_reset` and an
 * `api_key.revoked` (`reason: password_reset`) per key, and queues in the SESSIONS outbox the end
 * of every session of the account issued before it. Returns the queued `SessionsWork` when
 * applied; no row otherwise.
 */
export function spendResetToken(
  db: HttpQueryBuilder,
  params: { tokenHash: string; passwordHash: string; origin: RequestOrigin },
) {
  return db.execute<SessionsWork>(sql`
    with spent as (
      update account_tokens set used_at = now()
      where token_hash = ${params.tokenHash} and purpose = 'reset_password' and used_at is null and expires_at > now()
      returning id, user_id, email
    ), applied as (
      update users u set password_hash = ${params.passwordHash}, email_verified = true, password_change_required = false, updated_at = clock_timestamp()
      from spent s
      where u.id = s.user_id and u.email = s.email and u.status = 'active'
      returning u.id
    ), voided as (
      update account_tokens t set used_at = now()
      from applied a, spent s
      where t.user_id = a.id and t.id <> s.id and t.used_at is null
    ), keys_revoked as (
      update api_keys k set revoked_at = now(), revoked_by = a.id
      from applied a
      where k.user_id = a.id and k.revoked_at is null
      returning k.id, k.user_id
    ), recorded as (
      insert into audit_events (${SECURITY_EVENT_COLUMNS})
      select ${securityEventValues({ action: "user.password_reset", actorId: null, origin: params.origin, targetUserId: sql`id` })}
      from applied
      union all
      select ${securityEventValues({
        action: "api_key.revoked",
        actorId: null,
        origin: params.origin,
        targetUserId: sql`user_id`,
        details: sql`jsonb_build_object('keyId', id, 'reason', 'password_reset')`,
      })}
      from keys_revoked
    ), queued as (${queueRevocation({
      userId: sql`(select id from applied)`,
      reason: "password_reset",
      keyIds: sql`(select array_agg(id) from keys_revoked)`,
      when: sql`exists (select 1 from applied)`,
    })})
    select ${sessionsWorkColumns(sql`queued`)} from queued`);
}

/**
 * Voids the account's pending reset and change-of-address tokens (a verification link stays: it
 * only proves the current address): for the batch or transaction of a change of credentials (a password change, a temporary
 * password, an MFA reset), so that a link mailed before it, perhaps at an intruder's request,
 * cannot be spent after. OWASP Forgot Password Cheat Sheet.
 */
export function voidPendingTokens(db: Queryable, params: { userId: string }) {
  return db
    .update(accountTokens)
    .set({ usedAt: sql`now()` })
    .where(
      and(
        eq(accountTokens.userId, params.userId),
        inArray(accountTokens.purpose, ["reset_password", "change_email"]),
        isNull(accountTokens.usedAt),
      ),
    );
}

/**
 * Deletes at most `limit` tokens that expired before `expiredBefore`, as the system (the sweeper;
 * a day after expiry, when no per-account limit counts them any more: those look back an hour or a
 * day from creation). @returns how many went
 */
export async function purgeExpiredAccountTokens(
  db: Queryable,
  params: { expiredBefore: Date; limit: number },
): Promise<number> {
  const oldest = db
    .select({ id: accountTokens.id })
    .from(accountTokens)
    .where(lt(accountTokens.expiresAt, params.expiredBefore))
    .limit(params.limit);
  const deleted = await db
    .delete(accountTokens)
    .where(inArray(accountTokens.id, oldest))
    .returning({ id: accountTokens.id });
  return deleted.length;
}
