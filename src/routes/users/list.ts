import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { selectUsersPage, usersPage } from "../../db/queries/users.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { cursorParam, pageOf } from "../../pkg/pagination/cursor.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { ListUsersQuery, toUserJson, UserPageSchema } from "./schemas.ts";

const route = protectedRoute("users:read", {
  method: "get",
  path: "/users",
  tags: ["Users (admin)"],
  summary: "List users",
  description:
    "Newest first, keyset-paginated (`nextCursor`); filter by role, status, or part of the email or username.",
  request: { query: ListUsersQuery },
  responses: {
    200: jsonResponse("A page of users.", UserPageSchema),
    ...problemResponses(400, 503),
  },
});

export const browseUsers = createRouter().openapi(route, async (c) => {
  const { limit, role, status, search, cursor } = c.req.valid("query");
  const after = cursorParam(cursor);
  const [rows] = await asCaller(c).read((db) => [selectUsersPage(db, { limit, role, status, search, after })]);
  const { page, nextCursor } = pageOf(usersPage(rows), limit);
  return c.json({ data: page.map(toUserJson), nextCursor }, 200);
});
