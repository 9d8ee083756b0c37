import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { changePermission, userNotFound } from "../../auth/accounts.ts";
import { REQUIRED_PERMISSION } from "../../auth/grant-rules.ts";
import { firstRow } from "../../db/actor.ts";
import { permissionsOf, selectPermissions, selectUser } from "../../db/queries/users.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalReadHeaders, ConditionalWriteHeaders, readPreconditions } from "../conditional.ts";
import { protectedRoute } from "../openapi.ts";
import { accountDeps, GRANT_RULES } from "./access.ts";
import {
  PERMISSIONS_ETAG,
  permissionsJson,
  permissionsPrecondition,
  permissionsRepresentation,
} from "./representation.ts";
import { PermissionParams, UserIdParams } from "./schemas.ts";

const listRoute = protectedRoute("users:read", {
  method: "get",
  path: "/users/{id}/permissions",
  tags: ["Users (admin)"],
  summary: "A user's granted permissions",
  request: { params: UserIdParams, headers: ConditionalReadHeaders },
  responses: {
    200: permissionsJson("Granted permissions, with a strong `ETag` of the list for conditional changes."),
    304: { description: "Unchanged (If-None-Match).", headers: PERMISSIONS_ETAG },
    ...problemResponses(400, 404, 412, 503),
  },
});

const readPermissions = createRouter().openapi(listRoute, async (c) => {
  const { id } = c.req.valid("param");
  // Both in one batch: the list is served only if the caller may read the user.
  const [user, granted] = await asCaller(c).read((db) => [
    selectUser(db, { id }),
    selectPermissions(db, { userId: id }),
  ]);
  if (!firstRow(user)) throw userNotFound(id);
  const { body, validators, headers } = await permissionsRepresentation(permissionsOf(granted));
  return readPreconditions(c, validators) ?? c.json(body, 200, headers);
});

/** Granting and revoking share a shape: PUT adds the permission, DELETE removes it. */
function permissionChange(method: "put" | "delete", operation: "grant" | "revoke", summary: string) {
  const route = protectedRoute(REQUIRED_PERMISSION.permission, {
    method,
    path: "/users/{id}/permissions/{permission}",
    tags: ["Users (admin)"],
    summary,
    description: `${GRANT_RULES.trim()} With \`If-Match\` (the ETag of \`GET /users/{id}/permissions\`), only if the permissions have not changed since: otherwise 412 and nothing changes.`,
    request: { params: PermissionParams, headers: ConditionalWriteHeaders },
    responses: {
      200: permissionsJson("The user's permissions now, with the list's new `ETag`."),
      ...problemResponses(400, 404, 412, 503),
    },
  });
  return createRouter().openapi(route, async (c) => {
    const { id, permission } = c.req.valid("param");
    const request = { id, permission, operation, precondition: permissionsPrecondition(c) };
    const { body, headers } = await permissionsRepresentation(await changePermission(accountDeps(c), request));
    return c.json(body, 200, headers);
  });
}

/** `/users/{id}/permissions`: read (`users:read`), grant and revoke (`permissions:manage`). */
export const managePermissions = createRouter()
  .route("/", readPermissions)
  .route("/", permissionChange("put", "grant", "Grant a permission"))
  .route("/", permissionChange("delete", "revoke", "Revoke a permission"));
