import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { REQUIRED_PERMISSION } from "../../auth/grant-rules.ts";
import { accountThrottleState } from "../../auth/throttle.ts";
import { lockoutsPage, selectLockoutsPage } from "../../db/queries/users.ts";
import { LOCKOUT_BUCKETS } from "../../db/schema/users.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { cursorParam, pageOf } from "../../pkg/pagination/cursor.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { PageQuery } from "../pagination.ts";

const LockoutSchema = z
  .object({
    userId: z.uuid(),
    email: z.string(),
    username: z.string(),
    bucket: z.enum(LOCKOUT_BUCKETS).openapi({ description: "What was guessed: the password or the second factor." }),
    lockedAt: z.iso.datetime().openapi({ description: "When the bucket started refusing." }),
    attempts: z.number().int().openapi({ description: "Failed attempts counted now." }),
    locked: z.boolean().openapi({ description: "Whether the bucket still refuses or delays attempts now." }),
    retryAfterSeconds: z.number().int().openapi({ description: "Seconds until the next attempt is allowed (0: now)." }),
  })
  .openapi("AccountLockout");

const route = protectedRoute(REQUIRED_PERMISSION.unlock, {
  method: "get",
  path: "/users/locked",
  tags: ["Users (admin)"],
  summary: "Locked accounts",
  description:
    "Accounts whose password or second-factor attempts were throttled (five wrong ones, then waits of up to 15 min): recorded when the throttle starts refusing, removed when the account signs in again or is unlocked (`POST /users/{id}/unlock`). Most recent first, keyset-paginated; each with the throttle's state now (a record whose attempts were forgotten after a day shows `locked: false`).",
  request: { query: PageQuery },
  responses: {
    200: jsonResponse(
      "A page of lock-outs.",
      z.object({ data: z.array(LockoutSchema), nextCursor: z.string().nullable() }).openapi("AccountLockoutPage"),
    ),
    ...problemResponses(400, 503),
  },
});

// One Postgres round trip, then one call per listed bucket to its LOGIN_THROTTLE object, in parallel.
export const listLocked = createRouter().openapi(route, async (c) => {
  const { limit, cursor } = c.req.valid("query");
  const after = cursorParam(cursor);
  const [rows] = await asCaller(c).read((db) => [selectLockoutsPage(db, { limit, after })]);
  const { page, nextCursor } = pageOf(lockoutsPage(rows), limit);
  const states = await Promise.all(page.map((row) => accountThrottleState(c.env.LOGIN_THROTTLE, row)));
  const data = page.map((row, i) => {
    const state = states[i] ?? { attempts: 0, waitMs: 0, locked: false };
    return {
      userId: row.userId,
      email: row.email,
      username: row.username,
      bucket: row.bucket,
      lockedAt: row.lockedAt.toISOString(),
      attempts: state.attempts,
      locked: state.locked,
      retryAfterSeconds: Math.ceil(state.waitMs / 1000),
    };
  });
  return c.json({ data, nextCursor }, 200);
});
