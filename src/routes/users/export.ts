import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { exportAccountData } from "../../auth/account-data.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { protectedRoute } from "../openapi.ts";
import { requestOrigin } from "../request-origin.ts";
import { toUserJson, UserSchema } from "./schemas.ts";

const AccountExportSchema = z
  .object({
    exportedAt: z.iso.datetime(),
    profile: UserSchema,
    projectMemberships: z.array(
      z.object({ projectId: z.uuid(), name: z.string(), role: z.string(), joinedAt: z.string() }),
    ),
    documents: z
      .array(z.record(z.string(), z.unknown()))
      .openapi({ description: "Metadata of the documents you own (not deleted); not the files." }),
    notifications: z.array(z.record(z.string(), z.unknown())),
    securityEvents: z
      .array(z.record(z.string(), z.unknown()))
      .openapi({ description: "The audit log's entries about your account, oldest first." }),
  })
  .openapi("AccountExport");

const route = protectedRoute(
  "caller",
  {
    method: "get",
    path: "/users/me/export",
    tags: ["Users"],
    summary: "Export my data",
    description:
      "A JSON archive to download (`Content-Disposition: attachment`): your profile, project memberships, the metadata of the documents you own (not documents others shared with you, not the files: download those from `/documents/{id}/download`), your notifications and the security events about your account. Streamed as it is read, 500 rows a step. At most 2 a minute and 10 a day per user (policy `export`). Recorded as `user.data_exported`.",
    responses: {
      200: {
        description: "The archive.",
        headers: { "Content-Disposition": { schema: { type: "string" }, description: "attachment; filename=…" } },
        content: { "application/json": { schema: AccountExportSchema } },
      },
      ...problemResponses(404, 429, 503),
    },
  },
  // It reads every row the account has (OWASP API4:2023).
  { rateLimit: "export" },
);

/**
 * Declared for the document with `registerPath` and served by a plain `get` with the route's guard:
 * the typed `openapi()` handler would insist on `c.json`, which buffers the whole archive.
 */
export const exportMe = createRouter();
exportMe.openAPIRegistry.registerPath(route);
exportMe.get(route.path, ...route.middleware, async (c) => {
  const { userId } = callerOf(c);
  const { actor } = asCaller(c);
  const body = await exportAccountData(
    { http: c.get("services").database.http },
    { actor, userId, origin: requestOrigin(c), shape: toUserJson },
  );
  const day = new Date().toISOString().slice(0, 10);
  return new Response(body, {
    status: 200,
    headers: {
      "Content-Type": "application/json",
      "Content-Disposition": `attachment; filename="techcorp-account-${day}.json"`,
      "Cache-Control": "no-store",
    },
  });
});
