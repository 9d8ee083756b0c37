/**
 * Fine-grained permissions on top of the role. Administrators hold all of them; a user holds those
 * granted in `user_permissions`. A route declares the one it needs (`requirePermission`), and
 * row-level security honours the same names. Who may grant or use the delegated ones on whom is
 * decided by the grant rules (`src/auth/grant-rules.ts`).
 */
export const PERMISSIONS = {
  "users:read": "List and read any user's profile.",
  "users:write": "Edit another user's profile, email or username (never an admin's, never one's own identity).",
  "users:manage":
    "Disable, enable or delete users, and set their role (never an admin, never oneself; only admins grant admin).",
  "permissions:manage": "Grant and revoke, to others who are not admins, the permissions one holds oneself.",
  "documents:read": "Read any document.",
  "documents:manage": "Reprocess documents and see the processing of any document.",
  "analytics:read": "Read search analytics and business metrics.",
} as const;

export type Permission = keyof typeof PERMISSIONS;

export const PERMISSION_NAMES = Object.keys(PERMISSIONS) as Permission[];
