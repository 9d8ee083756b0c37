import type { ProjectRole } from "../db/schema/projects.ts";
import { ApiError } from "../pkg/errors/api-error.ts";

// Who may do what in a project, as the routes check it before writing. Row-level security and the
// triggers of migration 0025 enforce the same rules underneath (src/db/schema/projects.ts).

/** What a role may do: read the project and its documents, write documents, manage documents and members, own. */
export type ProjectAbility = "read" | "write" | "manage" | "own";

const RANK: Record<ProjectRole, number> = { viewer: 0, editor: 1, admin: 2, owner: 3 };
const NEEDS: Record<ProjectAbility, number> = { read: 0, write: 1, manage: 2, own: 3 };

/** Whether `role` (null: not a member) allows `ability`. */
export function roleAllows(role: ProjectRole | null | undefined, ability: ProjectAbility): boolean {
  return role != null && RANK[role] >= NEEDS[ability];
}

/**
 * Whether a member in `actorRole` may change a member in `fromRole` to `toRole`: owners change
 * anyone to anything; admins change non-owners among admin, editor and viewer.
 */
export function mayChangeRole(actorRole: ProjectRole | null, fromRole: ProjectRole, toRole: ProjectRole): boolean {
  if (actorRole === "owner") return true;
  return actorRole === "admin" && fromRole !== "owner" && toRole !== "owner";
}

/** The 404 of a project the caller cannot see (not a member, deleted, or no such project). */
export const noProject = (id: string) => new ApiError("not_found", { detail: `No project ${id}.` });

/** The 403 of a member whose role does not allow what they asked. */
export const roleTooLow = (ability: ProjectAbility, role: ProjectRole | null) =>
  new ApiError("forbidden", {
    detail: `This needs a project role that may ${ability === "own" ? "act as owner" : ability}; yours is ${role ?? "none"}.`,
  });

/** The 409 of a change to an archived project (read-only until an owner unarchives it). */
export const projectArchived = (id: string) =>
  new ApiError("conflict", { detail: `The project ${id} is archived and read-only; an owner can unarchive it.` });

/** The 409 of a change that would leave a project without an owner (the database refused it at commit). */
export const ownerRequired = () =>
  new ApiError("conflict", {
    detail: "A project must keep at least one owner: make another member an owner first (or transfer ownership).",
  });

/** A slug from a name: lower-case ASCII letters and digits, words joined by single hyphens, 3–64 characters. */
export function slugFrom(name: string): string {
  const words = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  let slug = "";
  for (const word of words) {
    const next = slug ? `${slug}-${word}` : word;
    if (next.length > 56) break;
    slug = next;
  }
  return slug.length >= 3 ? slug : `project${slug ? `-${slug}` : ""}`;
}
