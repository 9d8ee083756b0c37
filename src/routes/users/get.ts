import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { userNotFound } from "../../auth/accounts.ts";
import { firstRow } from "../../db/actor.ts";
import { selectUser } from "../../db/queries/users.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalReadHeaders, readPreconditions } from "../conditional.ts";
import { protectedRoute } from "../openapi.ts";
import { NOT_MODIFIED, userJson, userRepresentation } from "./representation.ts";
import { UserIdParams } from "./schemas.ts";

const route = protectedRoute("users:read", {
  method: "get",
  path: "/users/{id}",
  tags: ["Users (admin)"],
  summary: "A user",
  request: { params: UserIdParams, headers: ConditionalReadHeaders },
  responses: {
    200: userJson("The user, with `ETag` and `Last-Modified`."),
    304: NOT_MODIFIED,
    ...problemResponses(400, 404, 412, 503),
  },
});

export const readUser = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const [rows] = await asCaller(c).read((db) => [selectUser(db, { id })]);
  const user = firstRow(rows);
  if (!user) throw userNotFound(id);
  const { body, validators, headers } = await userRepresentation(user);
  return readPreconditions(c, validators) ?? c.json(body, 200, headers);
});
