import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { selectSecurityEventsPage } from "../../db/queries/audit.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { AuditQuery, filterOf, SecurityEventPageSchema, securityEventPage, toSecurityEventJson } from "./schemas.ts";

const route = protectedRoute("admin", {
  method: "get",
  path: "/audit",
  tags: ["Audit"],
  summary: "The audit log: security events of every account",
  description:
    "Logins (succeeded and refused), registrations, MFA turned on and off, sessions ended, refresh-token reuse, and every change of a role, permission, status, profile or email, each recorded in the transaction of the change it describes, with actor, target, client address, user agent and request id. Newest first, keyset-paginated (`nextCursor`). Administrators only: the log holds every user's addresses. Events are kept for `AUDIT_RETENTION_DAYS` (default 365).",
  request: { query: AuditQuery },
  responses: { 200: jsonResponse("A page of events.", SecurityEventPageSchema), ...problemResponses(400, 503) },
});

export const listAuditEvents = createRouter().openapi(route, async (c) => {
  const query = c.req.valid("query");
  const filter = filterOf(query);
  const [rows] = await asCaller(c).read((db) => [selectSecurityEventsPage(db, filter)]);
  const { page, nextCursor } = securityEventPage(rows, query.limit);
  c.header("Cache-Control", "no-store");
  return c.json({ data: page.map(toSecurityEventJson), nextCursor }, 200);
});
