/**
 * Fine-grained permissions on top of the role. Administrators hold all of them; a user holds those
 * granted in `user_permissions`. A route declares the one it needs (`requirePermission`), and
 * row-level security honours the same names.
 */
export const PERMISSIONS = {
  "users:read": "List and read any user's profile.",
  "users:write": "Edit any user's profile.",
  "users:manage": "Change a user's role, disable, enable or delete users.",
  "permissions:manage": "Grant and revoke permissions.",
  "documents:read": "Read any document.",
  "documents:manage": "Reprocess documents and see the processing of any document.",
  "analytics:read": "Read search analytics and business metrics.",
} as const;

export type Permission = keyof typeof PERMISSIONS;

export const PERMISSION_NAMES = Object.keys(PERMISSIONS) as Permission[];

export function isPermission(value: string): value is Permission {
  return value in PERMISSIONS;
}
