import { and, asc, desc, eq, gt, isNull, ne, type SQL, sql } from "drizzle-orm";
import type { KeysetCursor } from "../../pkg/pagination/cursor.ts";
import type { Queryable } from "../actor.ts";
import type { HttpQueryBuilder } from "../client.ts";
import { changedAt } from "../schema/columns.ts";
import { documents } from "../schema/documents.ts";
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
 * Deleting a project (soft; owners only): its documents are deleted first (while the project still
 * lets its owner manage them; the sweeper purges them and their objects after the grace period),
 * then its pending invitations are revoked and the project marked. Three statements for one batch;
 * the last returns the project's row, none when it was already gone.
 */
export function deleteProjectStatements(db: Queryable, params: { id: string }) {
  return [
    db
      .update(documents)
      .set({ deletedAt: changedAt, updatedAt: changedAt })
      .where(and(eq(documents.projectId, params.id), isNull(documents.deletedAt)))
      .returning({ id: documents.id }),
    db
      .update(projectInvitations)
      .set({ status: "revoked", respondedAt: changedAt })
      .where(and(eq(projectInvitations.projectId, params.id), eq(projectInvitations.status, "pending"))),
    db
      .update(projects)
      .set({ deletedAt: changedAt, updatedAt: changedAt })
      .where(and(eq(projects.id, params.id), isNull(projects.deletedAt)))
      .returning(),
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
 * The transaction-level advisory lock that serializes the changes to one project's members. The
 * deferred owner check (migration 0025) reads the owners when its transaction commits, and does
 * not see a change another transaction has not committed yet: two owners leaving or stepping down
 * at once each saw the other still an owner, and both committed, leaving the project without one.
 * Taken first, the second waits for the first's commit and its own check sees the change (23514, a
 * 409). Advisory rather than the project's row, which row-level security lets only managers lock.
 */
export const projectMembersLock = (projectId: string) =>
  sql`select pg_advisory_xact_lock(hashtextextended(${`project_members:${projectId}`}, 0))`;

/**
 * `projectMembersLock` as the first statement of a batch that demotes or removes a member (role
 * changes, removals, leaving); held until the batch's transaction ends.
 */
export function lockProjectMembersStatement(db: HttpQueryBuilder, params: { projectId: string }) {
  return db.execute(projectMembersLock(params.projectId));
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
  params: { id: string; projectId: string; inviteeId: string; role: InvitableRole; invitedBy: string },
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
  inviteeUsername: users.username,
};

/**
 * Invitations with the project's slug and name and the invitee's username, newest first: those
 * pending for `inviteeId` (their inbox), or those pending in `projectId` (its admins' view). The
 * usernames are in `users`: run as the system after the caller's own reads; the query states the
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
    .innerJoin(users, eq(users.id, projectInvitations.inviteeId))
    .where(and(scope, eq(projectInvitations.status, "pending"), unexpired(), isNull(projects.deletedAt)))
    .orderBy(desc(projectInvitations.createdAt), desc(projectInvitations.id))
    .limit(100);
}

export type InvitationRow = Awaited<ReturnType<typeof selectPendingInvitations>>[number];

/**
 * Accepting an invitation, as the invitee: the membership is created from the invitation while it
 * is pending and unexpired (its policy checks the same), then the invitation is marked accepted.
 * Two statements for one batch; both return nothing when the invitation is not the caller's, not
 * pending (a replay) or expired.
 */
export function acceptInvitationStatements(db: Queryable, params: { id: string; inviteeId: string }) {
  const pending = and(
    eq(projectInvitations.id, params.id),
    eq(projectInvitations.inviteeId, params.inviteeId),
    eq(projectInvitations.status, "pending"),
    unexpired(),
  );
  return [
    db
      .insert(projectMembers)
      .select(
        db
          .select({
            projectId: projectInvitations.projectId,
            userId: projectInvitations.inviteeId,
            role: projectInvitations.role,
            addedBy: projectInvitations.invitedBy,
            createdAt: sql`now()`.as("created_at"),
            updatedAt: sql`now()`.as("updated_at"),
          })
          .from(projectInvitations)
          .where(pending),
      )
      .onConflictDoNothing()
      .returning(),
    db.update(projectInvitations).set({ status: "accepted", respondedAt: changedAt }).where(pending).returning(),
  ] as const;
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
