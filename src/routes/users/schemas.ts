import { z } from "@hono/zod-openapi";
import type { PublicUser } from "../../db/queries/users.ts";
import { PERMISSION_NAMES, type Permission, USER_ROLES, USER_STATUSES } from "../../db/schema/users.ts";
import { nonBlankText, storableJson, storableText, text, uuid } from "../fields.ts";
import { PageQuery } from "../pagination.ts";

const MAX_PREFERENCES_BYTES = 16 * 1024;

/** The permission names as zod's enum takes them (a non-empty tuple), so parsed values are `Permission`s. */
const PERMISSION_ENUM = PERMISSION_NAMES as [Permission, ...Permission[]];

export const UserSchema = z
  .object({
    id: z.uuid(),
    email: z.email(),
    username: z.string(),
    role: z.enum(USER_ROLES),
    status: z.enum(USER_STATUSES),
    emailVerified: z.boolean(),
    displayName: z.string().nullable(),
    bio: z.string().nullable(),
    avatarUrl: z.string().nullable(),
    locale: z.string().nullable(),
    timezone: z.string().nullable(),
    preferences: z.record(z.string(), z.unknown()),
    lastLoginAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi("User");

export function toUserJson(user: PublicUser): z.infer<typeof UserSchema> {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    role: user.role,
    status: user.status,
    emailVerified: user.emailVerified,
    displayName: user.displayName,
    bio: user.bio,
    avatarUrl: user.avatarUrl,
    locale: user.locale,
    timezone: user.timezone,
    preferences: user.preferences,
    lastLoginAt: user.lastLoginAt?.toISOString() ?? null,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}

const username = z
  .string()
  .min(3)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, dot, dash and underscore, starting with a letter or digit");

// `format: email` alone would promise RFC 5321's addresses; the pattern is the one zod checks.
export const EmailSchema = z.email().max(255).openapi({ pattern: z.regexes.email.source });
const email = EmailSchema;

/**
 * An IANA time zone by its canonical name, as the runtime's ICU lists them (`UTC` included), so
 * that the document enumerates exactly what is accepted rather than "whatever Intl takes".
 */
const TimeZoneSchema = z
  .enum(["UTC", ...Intl.supportedValuesOf("timeZone").filter((zone) => zone !== "UTC")])
  .openapi("TimeZone", { description: "An IANA time zone (canonical name)." });

export const PasswordSchema = z
  .string()
  .min(12, "at least 12 characters")
  .max(256)
  .openapi({ description: "12 to 256 characters." });

export const RegisterSchema = z
  .strictObject({
    email,
    username,
    password: PasswordSchema,
    displayName: nonBlankText().trim().min(1).max(100).optional(),
  })
  .refine((body) => !body.password.toLowerCase().includes(body.username.toLowerCase()), {
    message: "must not contain the username",
    path: ["password"],
  })
  .openapi("Registration", {
    description: "The password must not contain the username (compared case-insensitively).",
  });

const preferences = z
  .record(z.string().max(64), z.unknown())
  .check(storableJson)
  .refine((value) => new TextEncoder().encode(JSON.stringify(value)).byteLength <= MAX_PREFERENCES_BYTES, {
    message: `at most ${MAX_PREFERENCES_BYTES} bytes of JSON`,
  })
  .openapi({
    description: `Merged into the stored preferences; a key set to null is removed. Keys of at most 64 characters, at most ${MAX_PREFERENCES_BYTES} bytes of JSON.`,
  });

const profileFields = {
  displayName: nonBlankText().trim().min(1).max(100).nullable().optional(),
  bio: text().max(500).nullable().optional(),
  avatarUrl: z
    .url({ protocol: /^https$/ })
    .max(2048)
    .check(storableText)
    .openapi({ pattern: "^https://", description: "An https URL." })
    .nullable()
    .optional(),
  locale: z
    .string()
    .regex(/^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$/, "a BCP 47 language tag")
    .max(35)
    .nullable()
    .optional(),
  timezone: TimeZoneSchema.nullable().optional(),
  preferences: preferences.optional(),
};

/** What a user may change about themselves. Unknown fields (role, status, email, …) are refused, never ignored. */
export const ProfilePatchSchema = z
  .strictObject(profileFields)
  .refine((body) => Object.keys(body).length > 0, { message: "give at least one field" })
  .openapi("ProfilePatch", { minProperties: 1 });

/** What an administrator may change about a user's profile and identity. */
export const AdminUserPatchSchema = z
  .strictObject({
    ...profileFields,
    email: email.optional(),
    username: username.optional(),
    emailVerified: z.boolean().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, { message: "give at least one field" })
  .openapi("AdminUserPatch", { minProperties: 1 });

export const RoleSchema = z.strictObject({ role: z.enum(USER_ROLES) }).openapi("RoleChange");

export const UserIdParams = z.object({ id: uuid().openapi({ param: { name: "id", in: "path" } }) });

export const PermissionParams = z.object({
  id: uuid().openapi({ param: { name: "id", in: "path" } }),
  permission: z.enum(PERMISSION_ENUM).openapi({ param: { name: "permission", in: "path" } }),
});

export const ListUsersQuery = PageQuery.extend({
  role: z
    .enum(USER_ROLES)
    .optional()
    .openapi({ param: { name: "role", in: "query" } }),
  status: z
    .enum(USER_STATUSES)
    .optional()
    .openapi({ param: { name: "status", in: "query" } }),
  search: nonBlankText()
    .trim()
    .min(1)
    .max(100)
    .optional()
    .openapi({
      param: { name: "search", in: "query" },
      description: "Part of the email or username.",
    }),
});

export const UserPageSchema = z
  .object({ data: z.array(UserSchema), nextCursor: z.string().nullable() })
  .openapi("UserPage");

export const PermissionsSchema = z.object({ permissions: z.array(z.enum(PERMISSION_ENUM)) }).openapi("Permissions");

export const PasswordChangeSchema = z
  .strictObject({
    currentPassword: z.string().min(1).max(1024),
    newPassword: PasswordSchema,
  })
  .openapi("PasswordChange", {
    description:
      "The new password follows registration's rules: 12 to 256 characters, not containing the username, and not the current one.",
  });

export const TemporaryPasswordSchema = z.strictObject({ password: PasswordSchema }).openapi("TemporaryPassword", {
  description:
    "A temporary password (12 to 256 characters, not containing the username): the user must replace it at their next login.",
});
