import type { Context } from "hono";
import type { AppEnv } from "../app/context.ts";
import type { Viewer } from "../db/queries/documents.ts";
import { callerOf } from "../gateway/authentication.ts";

/**
 * Whose documents the caller may read and change: their own and those shared with them; all of
 * them with `documents:read` (read) or as an admin (read and write).
 */
export function viewerOf(c: Context<AppEnv>): Viewer & { writesAll: boolean } {
  const { userId, role, permissions } = callerOf(c);
  return { userId, readsAll: permissions.includes("documents:read"), writesAll: role === "admin" };
}
