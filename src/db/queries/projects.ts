import { and, asc, desc, eq, gt, isNull, ne, or, type SQL, sql } from "drizzle-orm";
import type { KeysetCursor } from "../../pkg/pagination/cursor.ts";
import type { Queryable } from "../actor.ts";
import type { HttpQueryBuilder } from "../client.ts";
import { changedAt } from "../schema/columns.ts";
import { documentShares, documents } from "../schema/documents.ts";
import {
  type InvitableRole,
  type Project,
  type ProjectActivityAction,
  type ProjectRole,
  projectActivity,
  projectInvitations,
  projectMembers,
  projects,
} from "../schema/projects.ts";
import { uploads } from "../schema/uploads.ts";
import { users } from "../schema/users.ts";

// The Project Service's queries. Each states its access rule itself (the caller's membership, the
// role a change needs) and row-level security enforces the same underneath (src/db/schema/projects.ts,
// migration 0025). All return unexecuted statements for either mode; the routes batch them.

/** The keyset condition "after `cursor`" on (created_at, id) descending. */
const afterCursor = (createdAt: SQL | unknown, id: unknown, cursor: KeysetCursor | undefined) =>
  cursor ? sql`(${createdAt}, ${id}) < (${cursor.createdAt}::timestamptz, ${cursor.id}::uuid)` : undefined;

/** `userId`'s membership of the project `projectId` (the row exists: they are a member). */
const membershipOf = (projectId: unknown, userId: string) =>
  sql`exists (select 1 from ${projectMembers} me where me.project_id = ${projectId} and me.user_id = ${userId})`;

export interface NewProject {
  id: string;
  slug: string;
  name: string;
  description: string;
  settings: Record<string, unknown>;
  createdBy: string;
}

/**
 * A new project and its creator as its first owner: three statements for one batch, in this order
 * (the membership's policy admits the creator of a project without members; the deferred owner
 * check at commit then holds), the last reading the project back. The insert returns nothing:
 * INSERT … RETURNING must pass the SELECT policy, and the creator reads the project only once they
 * are its member (42501 otherwise). A taken slug fails the first with 23505 `projects_slug_key`.
 */
export function insertProjectStatements(db: Queryable, project: NewProject) {
  return [
    db.insert(projects).values(project),
    db
      .insert(projectMembers)
      .values({ projectId: project.id, userId: project.createdBy, role: "owner", addedBy: project.createdBy })
      .returning(),
    db.select().from(projects).where(eq(projects.id, project.id)),
  ] as const;
}

/** SQLSTATE of `confirmOwnedProjects`'s refusal (DETAIL: `{quota: "projects", limit, used, requested}`). */
export const OWNED_PROJECTS_EXCEEDED_SQLSTATE = "Q0005";

/**
 * At the end of the batch that created a project: takes the creator's lock and refuses (SQLSTATE
 * `OWNED_PROJECTS_EXCEEDED_SQLSTATE`, rolling the batch back) when they now own more than `limit`
 * live projects (SQL `confirm_owned_projects`, migration 0029). As the system.
 */
export function confirmOwnedProjects(db: Pick<HttpQueryBuilder, "execute">, params: { userId: string; limit: number }) {
  return db.execute(sql`select confirm_owned_projects(${params.userId}::uuid, ${params.limit})`);
}

/** A live project and `userId`'s role in it (null for staff who are not members). Zero or one row. */
export function selectProject(db: Queryable, params: { id: string; userId: string }) {
  return db
    .select({ project: projects, role: projectMembers.role })
    .from(projects)
    .leftJoin(projectMembers, and(eq(projectMembers.projectId, projects.id), eq(projectMembers.userId, params.userId)))
    .where(and(eq(projects.id, params.id), isNull(projects.deletedAt)))
    .limit(1);
}

/**
 * The live projects `userId` is a member of, newest first, keyset-paginated on (created_at, id);
 * one extra row tells if more follow. `archived` filters on being archived; undefined lists both.
 */
export function selectProjectsPage(
  db: Queryable,
  params: { userId: string; limit: number; archived?: boolean | undefined; after?: KeysetCursor | undefined },
) {
  return db
    .select({ project: projects, role: projectMembers.role, cursorAt: sql<string>`${projects.createdAt}::text` })
    .from(projects)
    .innerJoin(projectMembers, and(eq(projectMembers.projectId, projects.id), eq(projectMembers.userId, params.userId)))
    .where(
      and(
        isNull(projects.deletedAt),
        params.archived === undefined
          ? undefined
          : params.archived
            ? sql`${projects.archivedAt} is not null`
            : isNull(projects.archivedAt),
        afterCursor(projects.createdAt, projects.id, params.after),
      ),
    )
    .orderBy(desc(projects.createdAt), desc(projects.id))
    .limit(params.limit + 1);
}

/** The rows of `selectProjectsPage`, each with its keyset cursor. */
export function projectsPage(rows: Awaited<ReturnType<typeof selectProjectsPage>>) {
  return rows.map(({ project, role, cursorAt }) => ({
    project,
    role,
    cursor: { createdAt: cursorAt, id: project.id } satisfies KeysetCursor,
  }));
}

export interface ProjectChanges {
  name?: string | undefined;
  description?: string | undefined;
  /** A JSON merge patch (RFC 7396) of the settings, applied by the database (`jsonb_merge_patch`). */
  settings?: Record<string, unknown> | undefined;
}

/**
 * Changes a live, unarchived project (its admins and owners; row-level security checks the role).
 * Returns the updated row, or none when the project is gone, archived or not the caller's to change.
 */
export function updateProjectStatement(db: Queryable, params: { id: string; changes: ProjectChanges }) {
  const { name, description, settings } = params.changes;
  return db
    .update(projects)
    .set({
      ...(name === undefined ? {} : { name }),
      ...(description === undefined ? {} : { description }),
      ...(settings === undefined
        ? {}
        : { settings: sql`jsonb_merge_patch(${projects.settings}, ${JSON.stringify(settings)}::jsonb)` }),
      updatedAt: changedAt,
    })
    .where(and(eq(projects.id, params.id), isNull(projects.deletedAt), isNull(projects.archivedAt)))
    .returning();
}

/**
 * Archives (`archived: true`) or unarchives a live project: owners only (trigger projects_guard).
 * Returns the row when it changed, none when it already was in that state or is gone.
 */
export function setProjectArchivedStatement(db: Queryable, params: { id: string; archived: boolean }) {
  return db
    .update(projects)
    .set({ archivedAt: params.archived ? changedAt : null, updatedAt: changedAt })
    .where(
      and(
        eq(projects.id, params.id),
        isNull(projects.deletedAt),
        params.archived ? isNull(projects.archivedAt) : sql`${projects.archivedAt} is not null`,
      ),
    )
    .returning();
}

/**
 * Deleting a project (soft; owners only, not while archived): the project is marked deleted, as
 * the caller (its policy and the trigger projects_guard check their role); then, as the system, its
 * pending invitations are revoked and its documents marked deleted (the sweeper purges them and
 * their objects after the grace period), both only once the project is deleted in this
 * transaction, so an archive or a role change meanwhile leaves everything as it was. Returns the
 * first statement (the project's row, none when nothing was deleted) and the two that follow it,
 * which must run as the system: `[asCaller, asSystem]`.
 */
export function deleteProjectStatements(db: Queryable, params: { id: string }) {
  const deletedNow = sql`exists (select 1 from ${projects} p where p.id = ${params.id} and p.deleted_at is not null)`;
  return {
    asCaller: db
      .update(projects)
      .set({ deletedAt: changedAt, updatedAt: changedAt })
      .where(and(eq(projects.id, params.id), isNull(projects.deletedAt), isNull(projects.archivedAt)))
      .returning(),
    asSystem: [
      db
        .update(projectInvitations)
        .set({ status: "revoked", respondedAt: changedAt })
        .where(and(eq(projectInvitations.projectId, params.id), eq(projectInvitations.status, "pending"), deletedNow)),
      db
        .update(documents)
        .set({ deletedAt: changedAt, updatedAt: changedAt })
        .where(and(eq(documents.projectId, params.id), isNull(documents.deletedAt), deletedNow)),
    ] as const,
  };
}

/**
 * Everyone whose readable documents a project's deletion changes: its members and the users its
 * documents are shared with (rows of `id`, repeats possible). Read as the system.
 */
export function selectProjectAudience(db: Queryable, params: { projectId: string }) {
  return db
    .select({ id: projectMembers.userId })
    .from(projectMembers)
    .where(eq(projectMembers.projectId, params.projectId))
    .unionAll(
      db
        .select({ id: documentShares.userId })
        .from(documentShares)
        .innerJoin(documents, eq(documents.id, documentShares.documentId))
        .where(eq(documents.projectId, params.projectId)),
    );
}

/**
 * What a member takes with them when they leave or are removed, as the system, in the removal's
 * batch: their shares of the project's documents (a manager could otherwise share documents with
 * themselves and keep them), and their open uploads into the project, which expire now (the
 * sweeper aborts them; they no longer hold the project's quota).
 */
export function releaseMemberStatements(db: Queryable, params: { projectId: string; userId: string }) {
  // Only once they are gone: a removal that removed nothing releases nothing.
  const gone = sql`not exists (select 1 from ${projectMembers} m where m.project_id = ${params.projectId} and m.user_id = ${params.userId})`;
  return [
    db
      .delete(documentShares)
      .where(
        and(
          eq(documentShares.userId, params.userId),
          sql`${documentShares.documentId} in (select d.id from ${documents} d where d.project_id = ${params.projectId})`,
          gone,
        ),
      ),
    db
      .update(uploads)
      .set({ expiresAt: sql`now()` })
      .where(
        and(
          eq(uploads.ownerId, params.userId),
          eq(uploads.projectId, params.projectId),
          ne(uploads.status, "completed"),
        ),
      ),
  ] as const;
}

const memberColumns = {
  userId: projectMembers.userId,
  role: projectMembers.role,
  addedBy: projectMembers.addedBy,
  joinedAt: projectMembers.createdAt,
  updatedAt: projectMembers.updatedAt,
  username: users.username,
  displayName: users.displayName,
};

/**
 * The members of a project with their usernames, owners first, then by username. Usernames are in
 * `users`, which only staff read across users: run it as the system, after the caller's own reads,
 * with `viewerId` the caller, whose membership the query requires itself (staff pass `undefined`).
 */
export function selectMembers(db: Queryable, params: { projectId: string; viewerId: string | undefined }) {
  return db
    .select(memberColumns)
    .from(projectMembers)
    .innerJoin(users, eq(users.id, projectMembers.userId))
    .where(
      and(
        eq(projectMembers.projectId, params.projectId),
        params.viewerId ? membershipOf(params.projectId, params.viewerId) : undefined,
      ),
    )
    .orderBy(
      sql`array_position(array['owner', 'admin', 'editor', 'viewer'], ${projectMembers.role})`,
      asc(users.username),
    );
}

export type Member = Awaited<ReturnType<typeof selectMembers>>[number];

/** One member's row (zero or one), as the caller sees it. */
export function selectMember(db: Queryable, params: { projectId: string; userId: string }) {
  return db
    .select()
    .from(projectMembers)
    .where(and(eq(projectMembers.projectId, params.projectId), eq(projectMembers.userId, params.userId)))
    .limit(1);
}

/**
 * Gives a member another role. Row-level security lets owners change anyone and admins only
 * non-owners to non-owner roles; the deferred owner check refuses the last owner's demotion at
 * commit (23514 `project_members_owner`). Returns the changed row, none when there was no change.
 */
export function updateMemberRoleStatement(
  db: Queryable,
  params: { projectId: string; userId: string; role: ProjectRole },
) {
  return db
    .update(projectMembers)
    .set({ role: params.role, updatedAt: changedAt })
    .where(
      and(
        eq(projectMembers.projectId, params.projectId),
        eq(projectMembers.userId, params.userId),
        ne(projectMembers.role, params.role),
      ),
    )
    .returning();
}

/**
 * The first statement of a batch that changes a project's members (role changes, removals,
 * transfers): a transaction-level advisory lock per project, so such changes run one after the
 * other and each reads back the state its own change left. The last-owner check does not need it
 * (it locks the project's row at commit); without it, a change that found the member already in
 * the asked role could read back another request's change and take it for a refusal.
 */
export function lockProjectMembersStatement(db: Pick<HttpQueryBuilder, "execute">, params: { projectId: string }) {
  return db.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`project_members:${params.projectId}`}, 0))`);
}

/** Removes a member (or the caller leaving). Returns the removed row, none when there was none. */
export function deleteMemberStatement(db: Queryable, params: { projectId: string; userId: string }) {
  return db
    .delete(projectMembers)
    .where(and(eq(projectMembers.projectId, params.projectId), eq(projectMembers.userId, params.userId)))
    .returning();
}

/**
 * Transferring ownership: `toUserId` (already a member) becomes an owner, then `fromUserId` an
 * admin, only once the first holds (so a transfer to a non-member changes nothing). One batch.
 * Each returns its row; none when `toUserId` is not a member.
 */
export function transferOwnershipStatements(
  db: Queryable,
  params: { projectId: string; fromUserId: string; toUserId: string },
) {
  return [
    db
      .update(projectMembers)
      .set({ role: "owner", updatedAt: changedAt })
      .where(and(eq(projectMembers.projectId, params.projectId), eq(projectMembers.userId, params.toUserId)))
      .returning(),
    db
      .update(projectMembers)
      .set({ role: "admin", updatedAt: changedAt })
      .where(
        and(
          eq(projectMembers.projectId, params.projectId),
          eq(projectMembers.userId, params.fromUserId),
          sql`exists (select 1 from ${projectMembers} heir where heir.project_id = ${params.projectId} and heir.user_id = ${params.toUserId} and heir.role = 'owner')`,
        ),
      )
      .returning(),
  ] as const;
}

/** How long an invitation may be answered. */
export const INVITATION_TTL_DAYS = 14;

/**
 * A pending invitation of `inviteeId` to the project for `role`, valid `INVITATION_TTL_DAYS`. A
 * second pending invitation of the same user fails with 23505 `project_invitations_pending_key`.
 */
export function insertInvitationStatement(
  db: Queryable,
  params: { id: string; projectId: string; inviteeId: string; login: string; role: InvitableRole; invitedBy: string },
) {
  return db
    .insert(projectInvitations)
    .values({ ...params, expiresAt: sql`now() + make_interval(days => ${INVITATION_TTL_DAYS})` })
    .returning();
}

const unexpired = () => gt(projectInvitations.expiresAt, sql`now()`);

/**
 * Revokes the user's pending invitation to the project if it has expired, before a new one is
 * made: an expired invitation stays `pending` (nobody answered it), and the one pending invitation
 * per user and project it holds (`project_invitations_pending_key`) would refuse every new one.
 * Zero or one row.
 */
export function revokeExpiredInvitationStatement(db: Queryable, params: { projectId: string; inviteeId: string }) {
  return db
    .update(projectInvitations)
    .set({ status: "revoked", respondedAt: changedAt })
    .where(
      and(
        eq(projectInvitations.projectId, params.projectId),
        eq(projectInvitations.inviteeId, params.inviteeId),
        eq(projectInvitations.status, "pending"),
        sql`${projectInvitations.expiresAt} <= now()`,
      ),
    )
    .returning({ id: projectInvitations.id });
}

const invitationColumns = {
  invitation: projectInvitations,
  projectSlug: projects.slug,
  projectName: projects.name,
};

/**
 * One invitation with its project's slug and name (zero or one row), for the answer to its
 * creation, read in the creating batch. Both modes.
 */
export function selectInvitationRow(db: Queryable, params: { id: string }) {
  return db
    .select(invitationColumns)
    .from(projectInvitations)
    .innerJoin(projects, eq(projects.id, projectInvitations.projectId))
    .where(eq(projectInvitations.id, params.id))
    .limit(1);
}

/**
 * The account `login` names (email or username, case-insensitive) for an invitation to `projectId`:
 * its id, status, and whether it is a member already (zero or one row). Accounts are readable
 * across users by staff only: run it as the system, after the caller's own reads.
 */
export function selectInvitee(db: Queryable, params: { login: string; projectId: string }) {
  const login = params.login.trim().toLowerCase();
  return db
    .select({
      id: users.id,
      status: users.status,
      // Qualified by hand: drizzle writes a one-table select's columns unqualified.
      member: sql<boolean>`exists (select 1 from ${projectMembers} m where m.project_id = ${params.projectId} and m.user_id = "users"."id")`,
    })
    .from(users)
    .where(or(eq(users.email, login), eq(sql`lower(${users.username})`, login)))
    .limit(1);
}

/**
 * Invitations with the project's slug and name, newest first: those pending for `inviteeId` (their
 * inbox), or those pending in `projectId` (its admins' view). Run as the system after the caller's
 * own reads (the inbox names projects the invitee cannot read yet); the query states the
 * access rule itself (`viewerId` must be the invitee, or an owner or admin of the project).
 */
export function selectPendingInvitations(
  db: Queryable,
  params: { inviteeId: string } | { projectId: string; viewerId: string | undefined },
) {
  const scope =
    "inviteeId" in params
      ? eq(projectInvitations.inviteeId, params.inviteeId)
      : and(
          eq(projectInvitations.projectId, params.projectId),
          params.viewerId
            ? sql`exists (select 1 from ${projectMembers} me where me.project_id = ${params.projectId} and me.user_id = ${params.viewerId} and me.role in ('owner', 'admin'))`
            : undefined,
        );
  return db
    .select(invitationColumns)
    .from(projectInvitations)
    .innerJoin(projects, eq(projects.id, projectInvitations.projectId))
    .where(and(scope, eq(projectInvitations.status, "pending"), unexpired(), isNull(projects.deletedAt)))
    .orderBy(desc(projectInvitations.createdAt), desc(projectInvitations.id))
    .limit(100);
}

export type InvitationRow = Awaited<ReturnType<typeof selectPendingInvitations>>[number];

/**
 * The project an invitation is to, with `userId`'s role in it, once they are a member (zero or one
 * row): after `acceptInvitationStatement` in the same batch, the project joined.
 */
export function selectProjectOfInvitation(db: Queryable, params: { invitationId: string; userId: string }) {
  return db
    .select({ project: projects, role: projectMembers.role })
    .from(projectInvitations)
    .innerJoin(projects, eq(projects.id, projectInvitations.projectId))
    .innerJoin(projectMembers, and(eq(projectMembers.projectId, projects.id), eq(projectMembers.userId, params.userId)))
    .where(and(eq(projectInvitations.id, params.invitationId), isNull(projects.deletedAt)))
    .limit(1);
}

/** What accepting an invitation returns: the project joined and the role, when it was accepted now. */
export type AcceptedInvitation = { project_id: string; role: InvitableRole };

/**
 * Accepting an invitation, as the invitee, in ONE statement: the invitation is marked accepted
 * while it is pending and unexpired (taking its row lock, so a revoke or decline at the same time
 * waits or wins), and the membership is created from the row it returned (its insert policy checks
 * a pending invitation of that role in the statement's snapshot, from before the update). Returns
 * the project and role, nothing when the invitation is not the caller's, not pending (a replay, a
 * revoke) or expired. Both modes (`db.execute`).
 */
export function acceptInvitationStatement(
  db: Pick<HttpQueryBuilder, "execute">,
  params: { id: string; inviteeId: string },
) {
  return db.execute<AcceptedInvitation>(sql`
    with accepted as (
      update ${projectInvitations} set status = 'accepted', responded_at = clock_timestamp()
       where id = ${params.id} and invitee_id = ${params.inviteeId} and status = 'pending' and expires_at > now()
      returning project_id, invitee_id, role, invited_by
    ), joined as (
      insert into ${projectMembers} (project_id, user_id, role, added_by)
      select project_id, invitee_id, role, invited_by from accepted
      on conflict do nothing
    )
    select project_id::text, role from accepted`);
}

/**
 * Ends a pending invitation: `declined` by its invitee while it has not expired, or `revoked` by
 * the project's owners and admins (expired or not). Returns the row when it was pending, none otherwise.
 */
export function closeInvitationStatement(
  db: Queryable,
  params: {
    id: string;
    status: "declined" | "revoked";
    projectId?: string | undefined;
    inviteeId?: string | undefined;
  },
) {
  return db
    .update(projectInvitations)
    .set({ status: params.status, respondedAt: changedAt })
    .where(
      and(
        eq(projectInvitations.id, params.id),
        eq(projectInvitations.status, "pending"),
        params.status === "declined" ? unexpired() : undefined,
        params.projectId ? eq(projectInvitations.projectId, params.projectId) : undefined,
        params.inviteeId ? eq(projectInvitations.inviteeId, params.inviteeId) : undefined,
      ),
    )
    .returning();
}

/** One invitation (zero or one row) as the caller may see it, for telling 404 from 409. */
export function selectInvitation(db: Queryable, params: { id: string }) {
  return db.select().from(projectInvitations).where(eq(projectInvitations.id, params.id)).limit(1);
}

export type { Project };

/**
 * A page of the project's activity feed, newest first, keyset-paginated on (created_at, id); one
 * extra row tells if more follow. `action` keeps one kind of entry. The feed is its members' (and
 * staff's, who pass no `viewerId`): row-level security shows it to no one else, and the query
 * requires `viewerId`'s membership itself.
 */
export function selectActivityPage(
  db: Queryable,
  params: {
    projectId: string;
    viewerId?: string | undefined;
    limit: number;
    action?: ProjectActivityAction | undefined;
    after?: KeysetCursor | undefined;
  },
) {
  return db
    .select({ activity: projectActivity, cursorAt: sql<string>`${projectActivity.createdAt}::text` })
    .from(projectActivity)
    .where(
      and(
        eq(projectActivity.projectId, params.projectId),
        params.viewerId ? membershipOf(params.projectId, params.viewerId) : undefined,
        params.action ? eq(projectActivity.action, params.action) : undefined,
        afterCursor(projectActivity.createdAt, projectActivity.id, params.after),
      ),
    )
    .orderBy(desc(projectActivity.createdAt), desc(projectActivity.id))
    .limit(params.limit + 1);
}

/** The rows of `selectActivityPage`, each with its keyset cursor. */
export function activityPage(rows: Awaited<ReturnType<typeof selectActivityPage>>) {
  return rows.map(({ activity, cursorAt }) => ({
    activity,
    cursor: { createdAt: cursorAt, id: activity.id } satisfies KeysetCursor,
  }));
}

/**
 * Removes for good, as the system (the sweeper), up to `limit` projects deleted before `before`
 * (the longest deleted first) that no document row names any more: a project's documents, deleted
 * with it, are purged first with their objects (`purgeDocument`), and a project still naming one
 * waits for a later run (its foreign key would refuse the delete anyway). Its members, invitations
 * and activity feed go by cascade. Each condition holds again for the row deleted (a project
 * undeleted or given a document meanwhile stays). Returns the ids removed.
 */
export function purgeDeletedProjects(db: Queryable, params: { before: Date; limit: number }) {
  const due = and(
    sql`${projects.deletedAt} < ${params.before}`,
    sql`not exists (select 1 from ${documents} d where d.project_id = ${projects.id})`,
  );
  const oldest = db
    .select({ id: projects.id })
    .from(projects)
    .where(due)
    .orderBy(asc(projects.deletedAt))
    .limit(params.limit);
  return db
    .delete(projects)
    .where(and(sql`${projects.id} in ${oldest}`, due))
    .returning({ id: projects.id });
}
