import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import type { Precondition } from "../../auth/accounts.ts";
import type { PublicUser } from "../../db/queries/users.ts";
import type { Permission } from "../../db/schema/users.ts";
import { requireWritePreconditions, VALIDATOR_HEADERS, validatorHeaders, validatorsOf } from "../conditional.ts";
import { jsonResponse } from "../openapi.ts";
import { PermissionsSchema, toUserJson, UserSchema } from "./schemas.ts";

// A user and a user's permission list as served: the JSON body, its validators (RFC 9110 §8.8)
// and headers, the preconditions of a write evaluated on them, and their OpenAPI declarations.

/**
 * A user as served: the JSON body, its validators (a strong ETag of the body, which carries
 * `updatedAt` so every change to the row changes it, and `updatedAt` as Last-Modified) and the
 * headers that carry them.
 */
export async function userRepresentation(user: PublicUser) {
  const body = toUserJson(user);
  const validators = await validatorsOf(body, user.updatedAt);
  return { body, validators, headers: validatorHeaders(validators) };
}

/** A user's granted permissions as served: `{ permissions }`, a strong ETag of it, the headers. */
export async function permissionsRepresentation(permissions: Permission[]) {
  const body = { permissions };
  const validators = await validatorsOf(body);
  return { body, validators, headers: validatorHeaders(validators) };
}

/** The request's If-Match / If-Unmodified-Since, evaluated on the user as locked for the write (412). */
export const userPrecondition =
  (c: Context<AppEnv>): Precondition<PublicUser> =>
  async (user) =>
    requireWritePreconditions(c, (await userRepresentation(user)).validators);

/** The request's If-Match, evaluated on the permission list as locked for the change (412). */
export const permissionsPrecondition =
  (c: Context<AppEnv>): Precondition<Permission[]> =>
  async (permissions) =>
    requireWritePreconditions(c, (await permissionsRepresentation(permissions)).validators);

/** A response carrying one user, with the user's ETag and Last-Modified. */
export const userJson = (description: string) => ({
  ...jsonResponse(description, UserSchema),
  headers: VALIDATOR_HEADERS,
});

export const NOT_MODIFIED = {
  description: "Unchanged (If-None-Match, or If-Modified-Since without it).",
  headers: VALIDATOR_HEADERS,
};

/** How every conditional write on a user states its preconditions. */
export const CONDITIONAL =
  " With `If-Match` (the user's ETag) or `If-Unmodified-Since`, only if the user has not changed since: otherwise 412 and nothing changes.";

export const PERMISSIONS_ETAG = {
  ETag: {
    description: "Strong entity tag of the permission list; send it in If-Match to change it conditionally.",
    schema: { type: "string" as const },
  },
};

/** A response carrying a user's permission list, with its ETag. */
export const permissionsJson = (description: string) => ({
  ...jsonResponse(description, PermissionsSchema),
  headers: PERMISSIONS_ETAG,
});
