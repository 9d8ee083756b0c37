import { afterAll } from "vitest";
import { type Actor, asActor, SYSTEM } from "../src/db/actor.ts";
import { openDatabase } from "../src/db/client.ts";
import { getUser, listPermissions, updateUser } from "../src/db/queries/users.ts";
import { PERMISSION_NAMES, type Permission } from "../src/db/schema/users.ts";
import { loadApiConfig } from "../src/pkg/config/config.ts";
import { promote, register, signedIn } from "./auth-helpers.ts";
import { testEnv } from "./helpers.ts";

// Delegated administration (src/auth/grant-rules.ts): the callers, targets and reads the
// delegated-* test files share. Importing this module opens one database handle to the shared
// stack for the importing test file, closed after its tests (a test file is one module graph).

export const config = loadApiConfig(testEnv);
export const handle = openDatabase(config.database);
export const db = handle.db;
afterAll(() => handle.close());

export type Role = "user" | "admin";
/** What a caller is given by the operator: a role and delegated permissions. */
export interface Grantor {
  role: Role;
  permissions: Permission[];
}

/** A request with a JSON body. */
export const jsonInit = (method: string, headers: Record<string, string>, body: unknown): RequestInit => ({
  method,
  headers: { ...headers, "content-type": "application/json" },
  body: JSON.stringify(body),
});

/** A signed-in caller holding `grantor`'s role and permissions (given by the operator, as the system). */
export async function staff(grantor: Grantor) {
  const caller = await signedIn();
  await promote(caller.user.id, grantor);
  return caller;
}

/** An account with a verified email, as the operator (or the verification flow) leaves it. */
export async function verifiedUser(role: Role = "user") {
  const { user } = await register();
  await asActor(db, SYSTEM, (tx) => updateUser(tx, { id: user.id, changes: { emailVerified: true, role } }));
  return user;
}

/** The user's row as the system reads it (undefined once deleted). */
export const readUser = (id: string) => asActor(db, SYSTEM, (tx) => getUser(tx, { id }));
/** The user's delegated permissions as the system reads them. */
export const readPermissions = (userId: string) => asActor(db, SYSTEM, (tx) => listPermissions(tx, { userId }));

/** The actor row-level security and the triggers see for `grantor` (admins hold every permission). */
export const actorFor = (userId: string, grantor: Grantor): Actor => ({
  kind: "user",
  userId,
  role: grantor.role,
  permissions: grantor.role === "admin" ? PERMISSION_NAMES : grantor.permissions,
});

// Each delegated permission alone, without users:read: editing and managing users include finding
// them (row-level security let neither read a row, so each answered 404), granting reads only the
// target's role.
export const manager: Grantor = { role: "user", permissions: ["users:manage"] };
export const permissionManager: Grantor = { role: "user", permissions: ["permissions:manage"] };
export const writer: Grantor = { role: "user", permissions: ["users:write"] };
export const reader: Grantor = { role: "user", permissions: ["users:read"] };
export const admin: Grantor = { role: "admin", permissions: [] };
