import { type SQL, sql } from "drizzle-orm";
import { pgPolicy } from "drizzle-orm/pg-core";
import type { Permission } from "./users.ts";

/**
 * Row-level security reads the acting user from transaction-local settings that `asActor`
 * (src/db/actor.ts) sets with `set_config(..., true)`: `app.user_id`, `app.role` and
 * `app.permissions`. Outside such a transaction all are empty and the policies admit nothing.
 */
export const actorId = sql`nullif(current_setting('app.user_id', true), '')::uuid`;
export const actorRole = sql`current_setting('app.role', true)`;
/**
 * The one project an API key bound to a project may reach (`app.project_id`, set by `asActor` from
 * the key's actor); null for a session and for a personal key.
 */
export const keyProject = sql`nullif(current_setting('app.project_id', true), '')::uuid`;

/** Administrators, and the server itself acting before a user is known (login, registration). */
export const isStaff = sql`${actorRole} in ('admin', 'system')`;

/** The acting user holds a fine-grained permission (carried in the setting, so no subquery). */
export function actorHas(permission: Permission): SQL {
  return sql.raw(`'${permission}' = any(string_to_array(current_setting('app.permissions', true), ','))`);
}

/** Staff, or a user holding one of `permissions`. */
export function staffOr(...permissions: Permission[]): SQL {
  return sql.join([isStaff, ...permissions.map(actorHas)], sql` or `);
}

/** Rows a user owns: visible and writable by that user and by staff. */
export function ownedBy(table: string, owner: SQL) {
  const rule = sql`${owner} = ${actorId} or ${isStaff}`;
  return pgPolicy(`${table}_owner_or_staff`, { for: "all", using: rule, withCheck: rule });
}
