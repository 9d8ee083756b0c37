import { and, asc, eq, gt, isNotNull, isNull, or, sql } from "drizzle-orm";
import type { Queryable, Transaction } from "../actor.ts";
import type { HttpQueryBuilder } from "../client.ts";
import { auditEvents } from "../schema/audit.ts";
import { documents } from "../schema/documents.ts";
import { notifications } from "../schema/notifications.ts";
import { projectMembers, projects } from "../schema/projects.ts";
import { sessionsOutbox } from "../schema/sessions-outbox.ts";
import { users } from "../schema/users.ts";
import { type RequestOrigin, SECURITY_EVENT_COLUMNS, securityEventValues } from "./audit.ts";

// The account lifecycle: a user's own deletion (marked by the request, erased by the sweeper) and
// the export of their data. Statements for the HTTP mode's batches (`Queryable`, or
// `HttpQueryBuilder` for raw SQL), and the sweeper's WebSocket-mode functions (`Transaction`).

/**
 * The first step of deleting one's own account, as the system in one statement: the account is
 * disabled and marked (`deletion_requested_at`), its personal documents are marked deleted, and
 * the projects it alone owns are deleted as an owner's deletion does (the project, its pending
 * invitations revoked, its documents marked deleted). The sweeper erases the rest
 * (`documentsToErase`, `eraseAccount`). Nothing happens when the deletion was already asked for,
 * nor to an admin's account (an admin is demoted first: the last one cannot leave the platform
 * without one). When it happens, the same statement records `user.deleted` (`self: true`) and
 * queues a read of the principal in the SESSIONS outbox (its cron ends the sessions should the
 * request's own call not reach them).
 * One row (`projects`, `documents`: how many were deleted), none when nothing happened.
 */
export function requestAccountDeletion(
  db: Pick<HttpQueryBuilder, "execute">,
  params: { userId: string; origin: RequestOrigin },
) {
  const u = params.userId;
  return db.execute<{ projects: number; documents: number }>(sql`
    with sole as (
      select p.id from ${projects} p
       where p.deleted_at is null
         and exists (select 1 from ${users} a where a.id = ${u} and a.deletion_requested_at is null and a.role <> 'admin')
         and exists (select 1 from ${projectMembers} m where m.project_id = p.id and m.user_id = ${u} and m.role = 'owner')
         and not exists (select 1 from ${projectMembers} m
                          where m.project_id = p.id and m.role = 'owner' and m.user_id <> ${u})
    ), gone as (
      update ${projects} set deleted_at = clock_timestamp(), updated_at = clock_timestamp()
       where id in (select id from sole) returning id
    ), revoked as (
      update project_invitations set status = 'revoked', responded_at = clock_timestamp()
       where status = 'pending' and project_id in (select id from gone) returning id
    ), discarded as (
      update ${documents} set deleted_at = clock_timestamp(), updated_at = clock_timestamp()
       where deleted_at is null
         and (project_id in (select id from gone) or (project_id is null and owner_id = ${u}))
         and exists (select 1 from ${users} a where a.id = ${u} and a.deletion_requested_at is null and a.role <> 'admin')
       returning id
    ), marked as (
      update ${users} set status = 'disabled', deletion_requested_at = clock_timestamp(), updated_at = clock_timestamp()
       where id = ${u} and deletion_requested_at is null and role <> 'admin'
      returning id
    ), recorded as (
      insert into ${auditEvents} (${SECURITY_EVENT_COLUMNS})
      select ${securityEventValues({
        action: "user.deleted",
        actorId: u,
        targetUserId: u,
        origin: params.origin,
        details: { self: true },
      })}
      from marked
    ), queued as (
      insert into ${sessionsOutbox} (user_id, reason) select id, 'account_deleted' from marked
    )
    select (select count(*) from gone)::int as projects, (select count(*) from discarded)::int as documents
      from marked`);
}

/** Accounts whose owner asked for their deletion, the longest waiting first. As the system. */
export async function accountsToErase(tx: Transaction, params: { limit: number }): Promise<string[]> {
  const rows = await tx
    .select({ id: users.id })
    .from(users)
    .where(isNotNull(users.deletionRequestedAt))
    .orderBy(asc(users.deletionRequestedAt))
    .limit(params.limit);
  return rows.map((row) => row.id);
}

/**
 * The documents of an account being erased that go with it: those it owns that are deleted, and
 * its personal ones (a personal document made after the request, by an upload already under way).
 * Documents it filed in a project that lives on stay, and pass to an owner of that project when
 * the account's row goes (trigger users_keep_project_documents, migration 0027).
 */
export async function documentsToErase(tx: Transaction, params: { userId: string; limit: number }): Promise<string[]> {
  const rows = await tx
    .select({ id: documents.id })
    .from(documents)
    .where(and(eq(documents.ownerId, params.userId), or(isNotNull(documents.deletedAt), isNull(documents.projectId))))
    .limit(params.limit);
  return rows.map((row) => row.id);
}

/**
 * Deletes the account's row for good once `documentsToErase` finds nothing left (every object is
 * gone with its document): its project documents pass to other owners (the users BEFORE DELETE
 * trigger of migration 0027), and its memberships, shares, notifications, webhooks, MFA, grants,
 * identities and uploads go by cascade. As the system. Returns whether the row was deleted.
 */
export async function eraseAccount(tx: Transaction, params: { userId: string }): Promise<boolean> {
  const rows = await tx
    .delete(users)
    .where(
      and(
        eq(users.id, params.userId),
        isNotNull(users.deletionRequestedAt),
        sql`not exists (select 1 from ${documents} d where d.owner_id = ${params.userId}
                         and (d.deleted_at is not null or d.project_id is null))`,
      ),
    )
    .returning({ id: users.id });
  return rows.length > 0;
}

/** The export's page size: each page is one HTTP batch and at most this many rows in memory. */
export const EXPORT_PAGE_ROWS = 500;

/**
 * A page of the documents `userId` owns (not deleted), metadata only, in id order after `afterId`.
 * Under the caller's row-level security. Both modes.
 */
export function selectOwnDocumentsPage(db: Queryable, params: { userId: string; afterId?: string | undefined }) {
  return db
    .select({
      id: documents.id,
      title: documents.title,
      tags: documents.tags,
      contentType: documents.contentType,
      projectId: documents.projectId,
      status: documents.status,
      currentVersion: documents.currentVersion,
      createdAt: documents.createdAt,
      updatedAt: documents.updatedAt,
    })
    .from(documents)
    .where(
      and(
        eq(documents.ownerId, params.userId),
        isNull(documents.deletedAt),
        params.afterId ? gt(documents.id, params.afterId) : undefined,
      ),
    )
    .orderBy(asc(documents.id))
    .limit(EXPORT_PAGE_ROWS);
}

/** A page of `userId`'s notifications in id order after `afterId`. Both modes. */
export function selectOwnNotificationsPage(db: Queryable, params: { userId: string; afterId?: string | undefined }) {
  return db
    .select()
    .from(notifications)
    .where(
      and(eq(notifications.userId, params.userId), params.afterId ? gt(notifications.id, params.afterId) : undefined),
    )
    .orderBy(asc(notifications.id))
    .limit(EXPORT_PAGE_ROWS);
}

/** `userId`'s project memberships (live projects) with the project's name, role and join time. Both modes. */
export function selectOwnMemberships(db: Queryable, params: { userId: string }) {
  return db
    .select({
      projectId: projects.id,
      name: projects.name,
      role: projectMembers.role,
      joinedAt: projectMembers.createdAt,
    })
    .from(projectMembers)
    .innerJoin(projects, eq(projects.id, projectMembers.projectId))
    .where(and(eq(projectMembers.userId, params.userId), isNull(projects.deletedAt)))
    .orderBy(asc(projectMembers.createdAt));
}
