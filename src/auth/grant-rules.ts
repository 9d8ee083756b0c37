import type { Permission, UserRole } from "../db/schema/users.ts";

/**
 * Who may grant what: the rules of delegated administration, written down once.
 *
 * Holders of `users:write`, `users:manage` and `permissions:manage` administer other accounts on
 * an administrator's behalf. Without limits, delegation escalates: a `users:manage` holder could
 * make itself (or an accomplice) `admin`, a `permissions:manage` holder could grant itself
 * anything, and a `users:write` holder could move an administrator's email (and so its OIDC
 * login) to an address it controls. OWASP API Security Top 10 2023 API5 (broken function level
 * authorization) and API3 (broken object property level authorization); ASVS 4.0.3 V4.1.2 (the
 * attributes access control relies on cannot be changed by users unless specifically
 * authorized), V4.1.3 (least privilege) and V5.1.2 (mass assignment).
 *
 * The rules, each refusal naming the one it breaks:
 * 1. **Function**: each change needs its permission (`REQUIRED_PERMISSION`); admins hold all.
 * 2. **Not on oneself**: no one changes their own role, status, permissions, email, username or
 *    email verification, nor deletes themselves, through the delegated routes (their own profile
 *    goes through `/users/me`).
 * 3. **Only what one holds**: the `admin` role is granted only by an admin; a permission is
 *    granted or revoked only by someone who holds it; an account's credentials (`CREDENTIAL_CHANGES`:
 *    its email, a temporary password, its second factor, an administrator's reset link) are
 *    changed only by someone holding every permission it holds, since whoever takes over the
 *    account acts with its permissions (ASVS 4.0.3 V4.1.3; OWASP API5).
 * 4. **Only admins touch admins**: no change at all to an account that is (or would become) an
 *    admin, unless the caller is an admin.
 * 5. **Verification is vouched for, never carried over**: an email change clears `emailVerified`
 *    (the new address is unproven); only an admin marks an address verified, never in the same
 *    change that sets it.
 *
 * The same rules are enforced three times (src/auth/accounts.ts, for the routes under `/users`):
 * before any work (`decideGrant` without the target's role, the caller as its session knows it),
 * in the writing transaction on the locked target and on the caller as the database holds it
 * then (`decideGrant` with both; every delegated write takes one advisory lock first, so
 * concurrent changes are decided one after another), and
 * by the database triggers `users_guard_privileged_columns` and `user_permissions_guard_grants`
 * (migration `0014_grant_rules.sql`), for any query that forgets. `test/api/delegated-authorization.test.ts`
 * runs one table of cases through the API and straight against the triggers.
 */

/** The caller, as the gateway identified it: `permissions` are the effective ones (all for admins). */
export interface Grantor {
  userId: string;
  role: UserRole;
  permissions: readonly Permission[];
}

/**
 * The account acted on; `role` and `permissions` are unknown before the account is read (the
 * route's first check). `permissions` are read only for a credential change (rule 3).
 */
export interface Grantee {
  id: string;
  role?: UserRole | undefined;
  permissions?: readonly Permission[] | undefined;
}

/** Attributes of an account that identify it: changing them moves the account (and its logins). */
export const IDENTITY_ATTRIBUTES = ["email", "username", "emailVerified"] as const;
export type IdentityAttribute = (typeof IDENTITY_ATTRIBUTES)[number];

/** What a delegated route changes about an account. */
export type AccountChange =
  | { kind: "role"; role: UserRole }
  | { kind: "status" }
  | { kind: "delete" }
  /** Setting a temporary password (the account must change it at its next login). */
  | { kind: "password" }
  /** Sending the account a password reset link (`POST /users/{id}/password-reset`). */
  | { kind: "password_reset" }
  /** Removing the account's second factor (a lost authenticator). */
  | { kind: "mfa_reset" }
  /** Clearing the account's login throttle (a locked-out owner). */
  | { kind: "unlock" }
  | { kind: "permission"; permission: Permission }
  /** `fields` are the attribute names the request sets; `emailVerified` the value it asks for, if any. */
  | { kind: "attributes"; fields: readonly string[]; emailVerified?: boolean | undefined };

/** Rule 1: the permission each kind of change needs (the route's `requirePermission`). */
export const REQUIRED_PERMISSION = {
  role: "users:manage",
  status: "users:manage",
  delete: "users:manage",
  password: "users:manage",
  password_reset: "users:manage",
  mfa_reset: "users:manage",
  unlock: "users:manage",
  permission: "permissions:manage",
  attributes: "users:write",
} as const satisfies Record<AccountChange["kind"], Permission>;

export type GrantDecision = { allowed: true } | { allowed: false; rule: GrantRule; reason: string };
export type GrantRule = "function" | "self" | "held" | "admins" | "verification";

const ALLOWED: GrantDecision = { allowed: true };
const refuse = (rule: GrantRule, reason: string): GrantDecision => ({ allowed: false, rule, reason });

const holds = (grantor: Grantor, permission: Permission) =>
  grantor.role === "admin" || grantor.permissions.includes(permission);

function isIdentityAttribute(field: string): field is IdentityAttribute {
  return (IDENTITY_ATTRIBUTES as readonly string[]).includes(field);
}

/**
 * Whether `change` affects how the account signs in (rule 3 "held" on credentials): a temporary
 * password, a reset link, removing its second factor, or moving its email (where reset links go).
 * Unlocking is not one: it only lets the owner try their own credentials again.
 */
export function isCredentialChange(change: AccountChange): boolean {
  switch (change.kind) {
    case "password":
    case "password_reset":
    case "mfa_reset":
      return true;
    case "attributes":
      return change.fields.includes("email");
    default:
      return false;
  }
}

/**
 * Decides whether `grantor` may make `change` to `grantee`. Pure: the caller reads the grantee
 * (with its row locked, when the change follows) and turns a refusal into a 403. With
 * `grantee.role` unknown, rule 4 is left for the check on the locked row; with
 * `grantee.permissions` unknown, rule 3 on credentials is too.
 */
export function decideGrant(grantor: Grantor, grantee: Grantee, change: AccountChange): GrantDecision {
  const needed = REQUIRED_PERMISSION[change.kind];
  if (!holds(grantor, needed)) return refuse("function", `This needs the "${needed}" permission.`);

  const self = grantor.userId === grantee.id;
  const identityFields = change.kind === "attributes" ? change.fields.filter(isIdentityAttribute) : [];
  if (self && change.kind !== "attributes") {
    return refuse(
      "self",
      "No one changes their own role, status, permissions, password or second factor, unlocks or deletes their own account here (/users/me is yours).",
    );
  }
  if (self && identityFields.length > 0) {
    return refuse(
      "self",
      `No one changes their own ${identityFields.join(", ")}: another administrator does (/users/me changes the rest of your profile).`,
    );
  }

  if (change.kind === "role" && change.role === "admin" && grantor.role !== "admin") {
    return refuse("held", "Only an admin grants the admin role.");
  }
  if (change.kind === "permission" && !holds(grantor, change.permission)) {
    return refuse("held", `Only a holder of "${change.permission}" grants or revokes it.`);
  }

  if (isCredentialChange(change) && grantee.permissions) {
    const lacking = grantee.permissions.filter((permission) => !holds(grantor, permission));
    if (lacking.length > 0) {
      return refuse(
        "held",
        `This account holds ${lacking.map((p) => `"${p}"`).join(", ")}, which you do not: only a holder of all its permissions changes its credentials.`,
      );
    }
  }

  if (change.kind === "attributes" && change.emailVerified === true) {
    if (change.fields.includes("email")) {
      return refuse("verification", "A new email address is unverified until its owner proves it.");
    }
    if (grantor.role !== "admin") return refuse("verification", "Only an admin marks an email address verified.");
  }

  if (grantee.role === "admin" && grantor.role !== "admin") {
    return refuse("admins", "Only an admin changes an admin's account.");
  }
  return ALLOWED;
}
