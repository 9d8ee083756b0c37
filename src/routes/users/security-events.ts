import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { asSeenByTarget, selectSecurityEventsPage } from "../../db/queries/audit.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import {
  filterOf,
  OwnSecurityEventsQuery,
  SecurityEventPageSchema,
  securityEventPage,
  toSecurityEventJson,
} from "../audit/schemas.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";

const route = protectedRoute("caller", {
  method: "get",
  path: "/users/me/security-events",
  tags: ["Users"],
  summary: "My security events",
  description:
    "The audit log's events about my account, newest first, keyset-paginated (`nextCursor`): logins, refused ones included (with the address and user agent they came from, as Google and GitHub show them), MFA, sessions ended, and what administrators changed (who did it; not their address or user agent, which are theirs).",
  request: { query: OwnSecurityEventsQuery },
  responses: { 200: jsonResponse("A page of events.", SecurityEventPageSchema), ...problemResponses(400, 503) },
});

export const listMySecurityEvents = createRouter().openapi(route, async (c) => {
  const query = c.req.valid("query");
  const { userId } = callerOf(c);
  // The caller as target, always: row-level security would show staff everyone's events.
  const filter = { ...filterOf(query), targetUserId: userId };
  const [rows] = await asCaller(c).read((db) => [selectSecurityEventsPage(db, filter)]);
  const { page, nextCursor } = securityEventPage(rows, query.limit);
  c.header("Cache-Control", "no-store");
  return c.json({ data: page.map((event) => toSecurityEventJson(asSeenByTarget(event, userId))), nextCursor }, 200);
});
