import { z } from "@hono/zod-openapi";
import type { InvitationRow, Member } from "../../db/queries/projects.ts";
import {
  INVITABLE_ROLES,
  INVITATION_STATUSES,
  PROJECT_ACTIVITY_ACTIONS,
  PROJECT_ROLES,
  type Project,
  type ProjectActivity,
  type ProjectRole,
} from "../../db/schema/projects.ts";
import { nonBlankText, storableJson, text, uuid } from "../fields.ts";

/** At most this many bytes of settings JSON per project. */
export const MAX_SETTINGS_BYTES = 16_384;

/** URL-safe: lower-case letters and digits in words joined by single hyphens (as the database checks). */
export const SLUG = /^[a-z0-9]+(-[a-z0-9]+)*$/;

export const ProjectIdParams = z.object({ id: uuid().openapi({ param: { name: "id", in: "path" } }) });
export const MemberParams = ProjectIdParams.extend({
  userId: uuid().openapi({ param: { name: "userId", in: "path" } }),
});
export const ProjectInvitationParams = ProjectIdParams.extend({
  invitationId: uuid().openapi({ param: { name: "invitationId", in: "path" } }),
});
export const InvitationIdParams = z.object({ id: uuid().openapi({ param: { name: "id", in: "path" } }) });

const settings = z
  .record(z.string().max(64), z.unknown())
  .check(storableJson)
  .refine((value) => new TextEncoder().encode(JSON.stringify(value)).byteLength <= MAX_SETTINGS_BYTES, {
    message: `at most ${MAX_SETTINGS_BYTES} bytes of JSON`,
  });

const slug = z
  .string()
  .min(3)
  .max(64)
  .regex(SLUG)
  .openapi({ example: "q3-planning", description: "Lower-case letters and digits, words joined by single hyphens." });
/**
 * Characters a name shown to others may not hold: C0 and C1 controls (line breaks, tabs), and the
 * invisible formatting ones: zero-width spaces and joiners, directional marks, embeddings and
 * overrides (U+202A–U+202E, the "Trojan Source" characters), isolates, word joiners, the BOM.
 */
const INVISIBLE_CLASS =
  "\\u0000-\\u001F\\u007F-\\u009F\\u200B-\\u200F\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u2069\\uFEFF";
const INVISIBLE = new RegExp(`[${INVISIBLE_CLASS}]`);
/**
 * The same rule for the OpenAPI document, without a lookahead (which generators of examples do not
 * all read): storable text (no NUL, no lone surrogate) without those characters, one of them not
 * white space.
 */
const ANY = `[^${INVISIBLE_CLASS}\\uD800-\\uDFFF]|[\\uD800-\\uDBFF][\\uDC00-\\uDFFF]`;
const VISIBLE = `[^\\s${INVISIBLE_CLASS}\\uD800-\\uDFFF]|[\\uD800-\\uDBFF][\\uDC00-\\uDFFF]`;
const NAME_PATTERN = `^(?:${ANY})*(?:${VISIBLE})(?:${ANY})*$`;
const name = nonBlankText()
  .trim()
  .min(1)
  .max(100)
  .refine(
    (value) => !INVISIBLE.test(value),
    "no control or invisible formatting characters (line breaks, bidi overrides, zero-width)",
  )
  .openapi({ example: "Q3 planning", pattern: NAME_PATTERN });
const description = text().max(2000);

export const CreateProjectSchema = z
  .strictObject({
    name,
    slug: slug.optional().openapi({
      description:
        "Unique among live projects (409 when taken). Derived from the name when absent, with a short suffix if that one is taken.",
    }),
    description: description.optional(),
    settings: settings.optional().openapi({ description: `Any JSON object, at most ${MAX_SETTINGS_BYTES} bytes.` }),
  })
  .openapi("ProjectCreation");

export const ProjectPatchSchema = z
  .strictObject({
    name: name.optional(),
    description: description.optional(),
    settings: settings.optional().openapi({
      description:
        "A JSON merge patch (RFC 7396) of the settings: objects merge key by key, a key set to null is removed, anything else replaces.",
    }),
  })
  .refine((body) => Object.keys(body).length > 0, { message: "nothing to change" })
  .openapi("ProjectPatch");

export const ProjectSchema = z
  .object({
    id: z.uuid(),
    slug: z.string(),
    name: z.string(),
    description: z.string(),
    settings: z.record(z.string(), z.unknown()),
    role: z
      .enum(PROJECT_ROLES)
      .nullable()
      .openapi({ description: "The caller's role; null for an administrator who is not a member." }),
    createdBy: z.uuid().nullable(),
    archivedAt: z.iso.datetime().nullable().openapi({ description: "Set while the project is archived (read-only)." }),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi("Project");

export const ProjectPageSchema = z
  .object({ data: z.array(ProjectSchema), nextCursor: z.string().nullable() })
  .openapi("ProjectPage");

export function toProjectJson(project: Project, role: ProjectRole | null): z.infer<typeof ProjectSchema> {
  return {
    id: project.id,
    slug: project.slug,
    name: project.name,
    description: project.description,
    settings: project.settings,
    role,
    createdBy: project.createdBy,
    archivedAt: project.archivedAt?.toISOString() ?? null,
    createdAt: project.createdAt.toISOString(),
    updatedAt: project.updatedAt.toISOString(),
  };
}

export const MemberSchema = z
  .object({
    userId: z.uuid(),
    username: z.string(),
    displayName: z.string().nullable(),
    role: z.enum(PROJECT_ROLES),
    addedBy: z.uuid().nullable(),
    joinedAt: z.iso.datetime(),
  })
  .openapi("ProjectMember");

export const MemberListSchema = z.object({ data: z.array(MemberSchema) }).openapi("ProjectMemberList");

export function toMemberJson(member: Member): z.infer<typeof MemberSchema> {
  return {
    userId: member.userId,
    username: member.username,
    displayName: member.displayName,
    role: member.role,
    addedBy: member.addedBy,
    joinedAt: member.joinedAt.toISOString(),
  };
}

export const RoleChangeSchema = z
  .strictObject({
    role: z.enum(PROJECT_ROLES).openapi({
      description: "Admins may give admin, editor or viewer to members who are not owners; owners may give any role.",
    }),
  })
  .openapi("ProjectRoleChange");

export const TransferSchema = z
  .strictObject({
    userId: uuid().openapi({ description: "A member who becomes an owner; the caller becomes an admin." }),
  })
  .openapi("ProjectOwnershipTransfer");

export const CreateInvitationSchema = z
  .strictObject({
    login: nonBlankText()
      .trim()
      .max(255)
      .openapi({ example: "bob@example.com", description: "The username or email of an existing, active user." }),
    role: z.enum(INVITABLE_ROLES).openapi({ description: "Owners are made by an owner's role change or a transfer." }),
  })
  .openapi("ProjectInvitationCreation");

export const InvitationSchema = z
  .object({
    id: z.uuid(),
    project: z.object({ id: z.uuid(), slug: z.string(), name: z.string() }),
    invitee: z.object({
      id: z.uuid(),
      login: z.string().openapi({ description: "The username or email the invitation was addressed to, as given." }),
    }),
    role: z.enum(INVITABLE_ROLES),
    status: z.enum(INVITATION_STATUSES),
    invitedBy: z.uuid().nullable(),
    expiresAt: z.iso.datetime(),
    createdAt: z.iso.datetime(),
    respondedAt: z.iso.datetime().nullable(),
  })
  .openapi("ProjectInvitation");

export const InvitationListSchema = z.object({ data: z.array(InvitationSchema) }).openapi("ProjectInvitationList");

export function toInvitationJson(row: InvitationRow): z.infer<typeof InvitationSchema> {
  const { invitation } = row;
  return {
    id: invitation.id,
    project: { id: invitation.projectId, slug: row.projectSlug, name: row.projectName },
    invitee: { id: invitation.inviteeId, login: invitation.login },
    role: invitation.role,
    status: invitation.status,
    invitedBy: invitation.invitedBy,
    expiresAt: invitation.expiresAt.toISOString(),
    createdAt: invitation.createdAt.toISOString(),
    respondedAt: invitation.respondedAt?.toISOString() ?? null,
  };
}

export const ArchivedQuery = z.object({
  archived: z
    .enum(["true", "false"])
    .optional()
    .transform((value) => (value === undefined ? undefined : value === "true"))
    .openapi({
      param: { name: "archived", in: "query" },
      description: "Only archived (true) or active (false) projects.",
    }),
});

export const ActivityQuery = z.object({
  action: z
    .enum(PROJECT_ACTIVITY_ACTIONS)
    .optional()
    .openapi({ param: { name: "action", in: "query" }, description: "Only entries of this action." }),
});

export const ActivitySchema = z
  .object({
    id: z.uuid(),
    action: z.enum(PROJECT_ACTIVITY_ACTIONS),
    actor: z
      .object({ id: z.uuid() })
      .nullable()
      .openapi({ description: "Who did it; null for the system, or once their account is deleted." }),
    documentId: z.uuid().nullable().openapi({
      description: "The document concerned; it may since have been deleted (`details.title` keeps its title then).",
    }),
    subjectUserId: z.uuid().nullable().openapi({ description: "The member, invitee or share holder concerned." }),
    details: z.record(z.string(), z.unknown()).openapi({
      description:
        "By action: `changed` (fields edited), `title` (a document's title at the time), `role`, `from`/`to` (roles; a move's projects, null for personal), `version`, `restoredFrom`, `access`.",
    }),
    createdAt: z.iso.datetime(),
  })
  .openapi("ProjectActivity");

export const ActivityPageSchema = z
  .object({ data: z.array(ActivitySchema), nextCursor: z.string().nullable() })
  .openapi("ProjectActivityPage");

export function toActivityJson(activity: ProjectActivity): z.infer<typeof ActivitySchema> {
  return {
    id: activity.id,
    action: activity.action,
    actor: activity.actorId ? { id: activity.actorId } : null,
    documentId: activity.documentId,
    subjectUserId: activity.subjectUserId,
    details: activity.details,
    createdAt: activity.createdAt.toISOString(),
  };
}
