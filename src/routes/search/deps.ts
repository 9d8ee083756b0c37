import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import type { SearchDeps } from "../../search/search-service.ts";
import { viewerOf } from "../viewer.ts";

/** What the Search Service needs from a request: the HTTP mode of Postgres, the caller as actor and viewer. */
export const searchDeps = (c: Context<AppEnv>): SearchDeps => ({
  http: c.get("services").database.http,
  actor: c.get("auth").actor,
  viewer: viewerOf(c),
});
