import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { listSessions, revokeAllSessions, revokeSession } from "../../auth/user-sessions.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { SessionIdParams, SessionSchema, toSessionJson } from "./schemas.ts";
import { recordSessionEvent } from "./session-events.ts";

const listRoute = protectedRoute(
  "caller",
  {
    method: "get",
    path: "/auth/sessions",
    tags: ["Auth"],
    summary: "My sessions",
    responses: {
      200: jsonResponse("Live sessions, most recently used first.", z.object({ data: z.array(SessionSchema) })),
      ...problemResponses(503),
    },
  },
  { interactiveOnly: true, showsSessions: true },
);

const listMySessions = createRouter().openapi(listRoute, async (c) => {
  const { userId, sessionId } = callerOf(c);
  // Read by the gateway with the session check; asked again only if it did not.
  const sessions = c.get("liveSessions") ?? (await listSessions(c.env.SESSIONS, userId));
  return c.json({ data: sessions.map((session) => toSessionJson(session, sessionId)) }, 200);
});

const revokeRoute = protectedRoute(
  "caller",
  {
    method: "delete",
    path: "/auth/sessions/{id}",
    tags: ["Auth"],
    summary: "End one of my sessions",
    request: { params: SessionIdParams },
    responses: { 204: { description: "Ended." }, ...problemResponses(400, 404, 503) },
  },
  { interactiveOnly: true },
);

const revokeMySession = createRouter().openapi(revokeRoute, async (c) => {
  const { id } = c.req.valid("param");
  // Only the caller's own Sessions object is asked: another user's session id is simply not there.
  const revoked = await revokeSession(c.env.SESSIONS, { userId: callerOf(c).userId, sessionId: id });
  if (!revoked) throw new ApiError("not_found", { detail: `No session ${id}.` });
  recordSessionEvent(c, "session.revoked", { sessionId: id });
  return c.body(null, 204);
});

const revokeAllRoute = protectedRoute(
  "caller",
  {
    method: "delete",
    path: "/auth/sessions",
    tags: ["Auth"],
    summary: "End all my sessions (this one included)",
    responses: { 204: { description: "Ended." }, ...problemResponses(503) },
  },
  { interactiveOnly: true },
);

const revokeAllMySessions = createRouter().openapi(revokeAllRoute, async (c) => {
  const count = await revokeAllSessions(c.env.SESSIONS, callerOf(c).userId);
  recordSessionEvent(c, "user.sessions_revoked", { count });
  return c.body(null, 204);
});

/** `/auth/sessions`: the caller's sessions (the user's SESSIONS object), listed and ended. */
export const manageSessions = createRouter()
  .route("/", listMySessions)
  .route("/", revokeMySession)
  .route("/", revokeAllMySessions);
