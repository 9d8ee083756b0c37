import { PERMISSION_NAMES, type Permission } from "../db/schema/users.ts";
import type { Principal } from "../durable-objects/sessions.ts";

/**
 * The permissions a principal holds now: every one for an admin, the granted ones
 * (`user_permissions`) for anyone else. The gateway and the auth service both read them from here.
 */
export function effectivePermissions(principal: Principal): Permission[] {
  return principal.role === "admin" ? [...PERMISSION_NAMES] : principal.permissions;
}
