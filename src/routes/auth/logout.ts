import { createRouter } from "../../app/create-app.ts";
import { revokeSession } from "../../auth/user-sessions.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { protectedRoute } from "../openapi.ts";
import { recordSessionEvent } from "./session-events.ts";

const route = protectedRoute(
  "caller",
  {
    method: "post",
    path: "/auth/logout",
    tags: ["Auth"],
    summary: "End this session",
    description: "Its refresh token and its access tokens are refused from now on.",
    responses: { 204: { description: "Logged out." }, ...problemResponses(503) },
  },
  // Ending one's own session needs no data scope: any token may give up its own access.
  { interactiveOnly: true, duringRequiredActions: true, withoutDataScope: true },
);

export const logOut = createRouter().openapi(route, async (c) => {
  const { userId, sessionId } = callerOf(c);
  await revokeSession(c.env.SESSIONS, { userId, sessionId });
  recordSessionEvent(c, "user.logged_out", { sessionId });
  return c.body(null, 204);
});
