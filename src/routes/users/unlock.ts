import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { unlockAccount } from "../../auth/accounts.ts";
import { REQUIRED_PERMISSION } from "../../auth/grant-rules.ts";
import { LOCKOUT_BUCKETS } from "../../db/schema/users.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { accountDeps, GRANT_RULES } from "./access.ts";
import { UserIdParams } from "./schemas.ts";

const route = protectedRoute(REQUIRED_PERMISSION.unlock, {
  method: "post",
  path: "/users/{id}/unlock",
  tags: ["Users (admin)"],
  summary: "Unlock a throttled account",
  description: `Forgets the failed password and second-factor attempts of the account, so its next login is not made to wait, and removes it from \`GET /users/locked\`. The client addresses' own limits stay. Recorded as \`user.unlocked\`.${GRANT_RULES}`,
  request: { params: UserIdParams },
  responses: {
    200: jsonResponse(
      "Unlocked; `cleared` names the lock-outs that were recorded.",
      z.object({ cleared: z.array(z.enum(LOCKOUT_BUCKETS)) }).openapi("Unlocked"),
    ),
    ...problemResponses(400, 404, 503),
  },
});

export const unlockUser = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const deps = { ...accountDeps(c), throttle: c.env.LOGIN_THROTTLE };
  return c.json({ cleared: await unlockAccount(deps, { id }) }, 200);
});
