import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { userNotFound } from "../../auth/accounts.ts";
import { firstRow } from "../../db/actor.ts";
import { selectUser } from "../../db/queries/users.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalReadHeaders, readPreconditions } from "../conditional.ts";
import { protectedRoute } from "../openapi.ts";
import { NOT_MODIFIED, userJson, userRepresentation } from "./representation.ts";

const route = protectedRoute(
  "caller",
  {
    method: "get",
    path: "/users/me",
    tags: ["Users"],
    summary: "My profile and preferences",
    request: { headers: ConditionalReadHeaders },
    responses: {
      200: userJson("The caller, with `ETag` and `Last-Modified`."),
      304: NOT_MODIFIED,
      ...problemResponses(412, 503),
    },
  },
  { duringRequiredActions: true },
);

// The gateway benchmark's route: one Postgres round trip (one read-only HTTP batch).
export const readMe = createRouter().openapi(route, async (c) => {
  const { userId } = callerOf(c);
  const [rows] = await asCaller(c).read((db) => [selectUser(db, { id: userId })]);
  const user = firstRow(rows);
  if (!user) throw userNotFound(userId);
  const { body, validators, headers } = await userRepresentation(user);
  return readPreconditions(c, validators) ?? c.json(body, 200, headers);
});
