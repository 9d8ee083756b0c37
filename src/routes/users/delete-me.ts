import { createRouter } from "../../app/create-app.ts";
import { DELETION_MAX_AUTH_AGE_SECONDS, deleteOwnAccount } from "../../auth/account-data.ts";
import { requireRecentAuthentication } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { protectedRoute } from "../openapi.ts";
import { requestOrigin } from "../request-origin.ts";

const route = protectedRoute(
  "caller",
  {
    method: "delete",
    path: "/users/me",
    tags: ["Users"],
    summary: "Delete my account",
    description: `Needs a recent sign-in: a session signed in to more than ${DELETION_MAX_AUTH_AGE_SECONDS} s ago gets 401 \`insufficient_user_authentication\` with \`max_age\` (RFC 9470): sign in again (password, and second factor if on) and retry with the new token. At once: the account is disabled, every session ends, your personal documents and the projects you alone own are deleted. Within minutes the sweeper erases the documents' files and the account itself; documents you filed in projects that have other owners stay with those projects (they pass to an owner). Recorded as \`user.deleted\`. An admin gets 409: another admin demotes you first, or deletes your account.`,
    responses: {
      204: { description: "Deleted; the account's sessions have ended and its erasure is under way." },
      ...problemResponses(404, 409, 503),
    },
  },
  { interactiveOnly: true },
);

export const deleteMe = createRouter().openapi(route, async (c) => {
  const { userId, role } = requireRecentAuthentication(c, DELETION_MAX_AUTH_AGE_SECONDS);
  const { database } = c.get("services");
  await deleteOwnAccount({ http: database.http, sessions: c.env.SESSIONS }, { userId, role, origin: requestOrigin(c) });
  return c.body(null, 204);
});
