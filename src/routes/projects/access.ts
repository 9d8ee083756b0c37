import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { asCaller } from "../../app/database.ts";
import { actAs, firstRow, SYSTEM } from "../../db/actor.ts";
import { selectMembers, selectProject } from "../../db/queries/projects.ts";
import type { Project, ProjectRole } from "../../db/schema/projects.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { noProject, type ProjectAbility, projectArchived, roleAllows, roleTooLow } from "../../projects/rules.ts";

/** A project as the caller sees it: the row, their role in it, and the role their rights follow. */
export interface ProjectAccess {
  project: Project;
  /** The caller's membership role; null for an administrator who is not a member. */
  role: ProjectRole | null;
  /** What the caller's rights follow: their role, or `owner` for an administrator (who may do anything). */
  acting: ProjectRole;
}

/** The access read from `selectProject`'s rows: the project, the caller's role, and the role they act in; 404 when none. */
export function accessOf(
  c: Context<AppEnv>,
  id: string,
  rows: Awaited<ReturnType<typeof selectProject>>,
): ProjectAccess {
  const caller = callerOf(c);
  const found = firstRow(rows);
  if (!found) throw noProject(id);
  const acting = found.role ?? (caller.role === "admin" ? "owner" : undefined);
  // Staff read every project under row-level security; a user who reads one is a member.
  if (!acting) throw noProject(id);
  return { project: found.project, role: found.role, acting };
}

/**
 * The live project `id` as the caller may see it (a member, or an administrator): one HTTP round
 * trip. 404 for anyone else, so a stranger cannot tell a project from no project.
 */
export async function projectFor(c: Context<AppEnv>, id: string): Promise<ProjectAccess> {
  const [rows] = await asCaller(c).read((db) => [selectProject(db, { id, userId: callerOf(c).userId })]);
  return accessOf(c, id, rows);
}

/**
 * The project, when the caller's role allows `ability` (403 otherwise) and, for anything beyond
 * reading, it is not archived (409), unless `whileArchived` (member management, unarchiving).
 */
export async function projectAllowing(
  c: Context<AppEnv>,
  id: string,
  ability: ProjectAbility,
  options: { whileArchived?: boolean } = {},
): Promise<ProjectAccess> {
  return allowing(await projectFor(c, id), ability, options);
}

/** `access` when it allows `ability` (`projectAllowing`'s rules); 403 or 409 otherwise. */
export function allowing(access: ProjectAccess, ability: ProjectAbility, options: { whileArchived?: boolean }) {
  const { id } = access.project;
  if (!roleAllows(access.acting, ability)) throw roleTooLow(ability, access.role);
  if (ability !== "read" && !options.whileArchived && access.project.archivedAt) throw projectArchived(id);
  return access;
}

/**
 * The project `id` for filing a document in it (editors and up, not archived: `projectAllowing`
 * with `write`) and the ids of its members, whose cached searches the new document changes: one
 * HTTP round trip (the members read as the system after the caller's own read, the query requiring
 * the caller's membership itself unless they are an administrator).
 */
export async function projectMembersFor(c: Context<AppEnv>, id: string): Promise<{ id: string }[]> {
  const caller = callerOf(c);
  const [rows, , members] = await asCaller(c).read((db) => [
    selectProject(db, { id, userId: caller.userId }),
    actAs(db, SYSTEM),
    selectMembers(db, { projectId: id, viewerId: caller.role === "admin" ? undefined : caller.userId }),
  ]);
  allowing(accessOf(c, id, rows), "write", {});
  return members.map((member) => ({ id: member.userId }));
}
