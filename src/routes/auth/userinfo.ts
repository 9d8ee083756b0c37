import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { hasScope } from "../../auth/scopes.ts";
import { userInfoClaims } from "../../auth/token-management.ts";
import { firstRow } from "../../db/actor.ts";
import { selectUser } from "../../db/queries/users.ts";
import { callerOf, REALM, verifyBearer } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";

const UserInfoSchema = z
  .object({
    sub: z.string(),
    name: z.string().optional(),
    preferred_username: z.string().optional(),
    updated_at: z.number().int().optional(),
    email: z.string().optional(),
    email_verified: z.boolean().optional(),
  })
  .openapi("UserInfo");

const description =
  "OpenID Connect Core §5.3: the signed-in user's claims for an access token granted `openid` (else 403 `insufficient_scope`): `sub`; with `profile` `name`, `preferred_username`, `updated_at`; with `email` `email`, `email_verified`. Bearer token in the Authorization header.";

const declaration = (method: "get" | "post") =>
  protectedRoute(
    "caller",
    {
      method,
      path: "/auth/userinfo",
      tags: ["Auth"],
      summary: method === "get" ? "UserInfo (OpenID Connect)" : "UserInfo (OpenID Connect), by POST",
      description,
      responses: {
        200: jsonResponse("The user's claims, by the token's scope.", UserInfoSchema),
        ...problemResponses(403, 503),
      },
    },
    // Governed by the OpenID scopes (`openid`, `profile`, `email`), not by the data ones.
    { interactiveOnly: true, withoutDataScope: true },
  );

async function userInfo(c: Context<AppEnv>) {
  const { userId } = callerOf(c);
  // The token's own scope (its claims are verified in the isolate again; the gateway checked its session).
  const bearer = await verifyBearer(c);
  const scope = bearer && "claims" in bearer ? bearer.claims.scope : "";
  if (!hasScope(scope, "openid")) {
    throw new ApiError("forbidden", {
      detail: "UserInfo needs an access token granted the openid scope.",
      headers: { "WWW-Authenticate": `Bearer realm="${REALM}", error="insufficient_scope", scope="openid"` },
    });
  }
  const [rows] = await asCaller(c).read((db) => [selectUser(db, { id: userId })]);
  const user = firstRow(rows);
  if (!user) throw new ApiError("not_found", { detail: "The account no longer exists." });
  return userInfoClaims(user, scope);
}

const getUserInfo = createRouter().openapi(declaration("get"), async (c) =>
  c.json(await userInfo(c), 200, { "Cache-Control": "no-store" }),
);
const postUserInfo = createRouter().openapi(declaration("post"), async (c) =>
  c.json(await userInfo(c), 200, { "Cache-Control": "no-store" }),
);

/** `/auth/userinfo`: OpenID Connect's UserInfo endpoint, GET and POST. */
export const serveUserInfo = createRouter().route("/", getUserInfo).route("/", postUserInfo);
