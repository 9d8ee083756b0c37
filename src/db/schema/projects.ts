import { sql } from "drizzle-orm";
import {
  check,
  index,
  jsonb,
  pgPolicy,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from "drizzle-orm/pg-core";
import { timestamps } from "./columns.ts";
import { actorId, isStaff } from "./rls.ts";
import { users } from "./users.ts";

/**
 * A member's role in a project, strongest first: owners also archive, delete and make owners;
 * admins manage members (never an owner) and delete documents; editors upload, edit and version;
 * viewers read.
 */
export const PROJECT_ROLES = ["owner", "admin", "editor", "viewer"] as const;
export type ProjectRole = (typeof PROJECT_ROLES)[number];
/** Roles an invitation may offer: ownership is only ever transferred or granted by an owner. */
export const INVITABLE_ROLES = ["admin", "editor", "viewer"] as const satisfies readonly ProjectRole[];
export type InvitableRole = (typeof INVITABLE_ROLES)[number];

export const INVITATION_STATUSES = ["pending", "accepted", "declined", "revoked"] as const;
export type InvitationStatus = (typeof INVITATION_STATUSES)[number];

const inList = (values: readonly string[]) => values.map((v) => `'${v}'`).join(", ");

// The acting user's role in a live project and what it allows are SQL functions (migration 0025):
// `project_role(project)` and `project_allows(project, 'read' | 'write' | 'manage')`. They read
// `project_members` as the system (switching `app.role` for the call), so a policy of
// `project_members` may call them without recursing into itself, and they only ever look at the
// acting user's own membership.
const role = (project: unknown) => sql`project_role(${project})`;
const managesMembers = (project: unknown, memberRole: unknown) =>
  sql`(${role(project)} = 'owner' or (${role(project)} = 'admin' and ${memberRole} <> 'owner'))`;

/**
 * A shared workspace: members with roles, and the documents filed in it. Archived projects are
 * read-only; deleting is soft (`deleted_at`), the sweeper purges the project and its documents
 * after the documents' grace period.
 */
export const projects = pgTable(
  "projects",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    /** URL-safe and unique among live projects: lower-case letters, digits and single hyphens. */
    slug: varchar("slug", { length: 64 }).notNull(),
    name: varchar("name", { length: 100 }).notNull(),
    description: text("description").notNull().default(""),
    /** Free-form settings of the project's clients, changed by JSON merge patch (RFC 7396). */
    settings: jsonb("settings").$type<Record<string, unknown>>().notNull().default({}),
    createdBy: uuid("created_by").references(() => users.id, { onDelete: "set null" }),
    archivedAt: timestamp("archived_at", { withTimezone: true }),
    deletedAt: timestamp("deleted_at", { withTimezone: true }),
    ...timestamps,
  },
  (t) => [
    check("projects_slug_check", sql`${t.slug} ~ '^[a-z0-9]+(-[a-z0-9]+)*$'`),
    // The merged settings, not only each patch, stay small (16 KiB of JSON text): patches adding
    // new keys must not grow them without end.
    check("projects_settings_size_check", sql`octet_length(${t.settings}::text) <= 16384`),
    uniqueIndex("projects_slug_key").on(t.slug).where(sql`${t.deletedAt} is null`),
    index("projects_deleted_idx").on(t.deletedAt).where(sql`${t.deletedAt} is not null`),
    pgPolicy("projects_read", { for: "select", using: sql`${isStaff} or ${role(t.id)} is not null` }),
    // Whoever creates a project becomes its first owner in the same transaction (project_members_insert).
    pgPolicy("projects_insert", { for: "insert", withCheck: sql`${isStaff} or ${t.createdBy} = ${actorId}` }),
    // Archiving and deleting are the owners' alone: a trigger checks that (migration 0025), as a
    // policy cannot compare a row with its previous version.
    pgPolicy("projects_update", {
      for: "update",
      using: sql`${isStaff} or ${role(t.id)} in ('owner', 'admin')`,
      withCheck: sql`${isStaff} or ${role(t.id)} in ('owner', 'admin')`,
    }),
    pgPolicy("projects_delete", { for: "delete", using: isStaff }),
  ],
).enableRLS();

/** Who belongs to a project and in which role. A live project always keeps an owner (migration 0025). */
export const projectMembers = pgTable(
  "project_members",
  {
    projectId: uuid("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    role: text("role").$type<ProjectRole>().notNull(),
    addedBy: uuid("added_by").references(() => users.id, { onDelete: "set null" }),
    ...timestamps,
  },
  (t) => [
    primaryKey({ columns: [t.projectId, t.userId] }),
    check("project_members_role_check", sql.raw(`role in (${inList(PROJECT_ROLES)})`)),
    index("project_members_user_idx").on(t.userId),
    pgPolicy("project_members_read", {
      for: "select",
      using: sql`${isStaff} or ${t.userId} = ${actorId} or ${role(t.projectId)} is not null`,
    }),
    // Three ways in: the creator of a project without members yet becomes its owner, an invitee
    // accepts a pending invitation for exactly its role, or staff.
    pgPolicy("project_members_insert", {
      for: "insert",
      withCheck: sql`${isStaff} or (${t.userId} = ${actorId} and (
        (${t.role} = 'owner' and project_unclaimed(${t.projectId}))
        or exists (select 1 from project_invitations i where i.project_id = ${t.projectId} and i.invitee_id = ${actorId}
                   and i.role = ${t.role} and i.status = 'pending' and i.expires_at > now())))`,
    }),
    pgPolicy("project_members_update", {
      for: "update",
      using: sql`${isStaff} or ${managesMembers(t.projectId, t.role)}`,
      withCheck: sql`${isStaff} or ${managesMembers(t.projectId, t.role)}`,
    }),
    pgPolicy("project_members_delete", {
      for: "delete",
      using: sql`${isStaff} or ${t.userId} = ${actorId} or ${managesMembers(t.projectId, t.role)}`,
    }),
  ],
).enableRLS();

/**
 * An offer to join a project, made to an existing user, who accepts or declines it. One pending
 * invitation per project and user; an answered one can never be answered again.
 */
export const projectInvitations = pgTable(
  "project_invitations",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    projectId: uuid("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    inviteeId: uuid("invitee_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /**
     * The username or email the invitation was addressed to, as typed (trimmed): what the project's
     * admins see of a pending invitee, so that inviting by email never tells them the username.
     */
    login: varchar("login", { length: 255 }).notNull().default(""),
    role: text("role").$type<InvitableRole>().notNull(),
    status: text("status").$type<InvitationStatus>().notNull().default("pending"),
    invitedBy: uuid("invited_by").references(() => users.id, { onDelete: "set null" }),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    respondedAt: timestamp("responded_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check("project_invitations_role_check", sql.raw(`role in (${inList(INVITABLE_ROLES)})`)),
    check("project_invitations_status_check", sql.raw(`status in (${inList(INVITATION_STATUSES)})`)),
    uniqueIndex("project_invitations_pending_key").on(t.projectId, t.inviteeId).where(sql`${t.status} = 'pending'`),
    index("project_invitations_invitee_idx").on(t.inviteeId, t.createdAt.desc()),
    pgPolicy("project_invitations_read", {
      for: "select",
      using: sql`${isStaff} or ${t.inviteeId} = ${actorId} or ${role(t.projectId)} in ('owner', 'admin')`,
    }),
    pgPolicy("project_invitations_insert", {
      for: "insert",
      withCheck: sql`${isStaff} or (${t.invitedBy} = ${actorId} and ${role(t.projectId)} in ('owner', 'admin'))`,
    }),
    // The invitee answers; the project's admins revoke.
    pgPolicy("project_invitations_update", {
      for: "update",
      using: sql`${isStaff} or ${t.inviteeId} = ${actorId} or ${role(t.projectId)} in ('owner', 'admin')`,
      withCheck: sql`${isStaff} or ${t.inviteeId} = ${actorId} or ${role(t.projectId)} in ('owner', 'admin')`,
    }),
    pgPolicy("project_invitations_delete", { for: "delete", using: isStaff }),
  ],
).enableRLS();

export type Project = typeof projects.$inferSelect;
export type ProjectMember = typeof projectMembers.$inferSelect;
export type ProjectInvitation = typeof projectInvitations.$inferSelect;

/**
 * What the activity feed of a project records (migration 0026 writes them, from triggers): the
 * project itself changing, people joining, leaving and changing roles, and its documents being
 * uploaded, edited, versioned, shared, moved, deleted and undeleted (brought back from the trash:
 * `document.restored` already names restoring an old version).
 */
export const PROJECT_ACTIVITY_ACTIONS = [
  "project.created",
  "project.updated",
  "project.archived",
  "project.unarchived",
  "project.deleted",
  "member.invited",
  "invitation.declined",
  "invitation.revoked",
  "member.joined",
  "member.role_changed",
  "member.removed",
  "member.left",
  "document.uploaded",
  "document.updated",
  "document.versioned",
  "document.restored",
  "document.moved",
  "document.deleted",
  "document.undeleted",
  "document.shared",
  "document.unshared",
] as const;
export type ProjectActivityAction = (typeof PROJECT_ACTIVITY_ACTIONS)[number];

/**
 * Actions only a project's owners and admins see in its feed: they name invitees and outside share
 * holders, whom the other members cannot see either (the invitations and shares policies).
 */
export const MANAGERS_ONLY_ACTIONS = [
  "member.invited",
  "invitation.declined",
  "invitation.revoked",
  "document.shared",
  "document.unshared",
] as const satisfies readonly ProjectActivityAction[];

/**
 * A project's activity feed: who did what, when. Rows are only ever written by the triggers of
 * migration 0026, in the transaction of the change they record, so a change that rolls back leaves
 * no row and no route can forget one. `document_id` has no foreign key: the record outlives the
 * document's purge, and `details.title` keeps the title it had.
 */
export const projectActivity = pgTable(
  "project_activity",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    projectId: uuid("project_id")
      .notNull()
      .references(() => projects.id, { onDelete: "cascade" }),
    /** Who did it: the acting user, or null for the system (and once their account is gone). */
    actorId: uuid("actor_id").references(() => users.id, { onDelete: "set null" }),
    action: text("action").$type<ProjectActivityAction>().notNull(),
    documentId: uuid("document_id"),
    /** The member, invitee or share holder the action concerns. */
    subjectUserId: uuid("subject_user_id").references(() => users.id, { onDelete: "set null" }),
    details: jsonb("details").$type<Record<string, unknown>>().notNull().default({}),
    // The statement's clock, not the transaction's: the changes of one transaction keep their order.
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().default(sql`clock_timestamp()`),
  },
  (t) => [
    check("project_activity_action_check", sql.raw(`action in (${inList(PROJECT_ACTIVITY_ACTIONS)})`)),
    index("project_activity_project_created_idx").on(t.projectId, t.createdAt.desc(), t.id.desc()),
    pgPolicy("project_activity_read", {
      for: "select",
      using: sql`${isStaff} or ${role(t.projectId)} in ('owner', 'admin') or (${role(t.projectId)} is not null and ${t.action} not in (${sql.raw(inList(MANAGERS_ONLY_ACTIONS))}))`,
    }),
    pgPolicy("project_activity_insert", { for: "insert", withCheck: isStaff }),
    pgPolicy("project_activity_update", { for: "update", using: isStaff, withCheck: isStaff }),
    pgPolicy("project_activity_delete", { for: "delete", using: isStaff }),
  ],
).enableRLS();

export type ProjectActivity = typeof projectActivity.$inferSelect;
