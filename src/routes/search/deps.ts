import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { staleReadsFor } from "../../app/read-your-writes.ts";
import { callerOf } from "../../gateway/authentication.ts";
import type { SearchRequestDeps } from "../../search/search-request.ts";
import type { SearchDeps } from "../../search/search-service.ts";
import { viewerOf } from "../viewer.ts";

/**
 * What the Search Service needs from a request: the HTTP mode of Postgres, the caller as actor and
 * viewer. Searches may be a little stale: their reads go to the read replica when there is one
 * (`staleReadsFor`); what they write (the recorded search) goes to the primary.
 */
export function searchDeps(c: Context<AppEnv>): SearchDeps {
  const { actor } = callerOf(c);
  return { http: staleReadsFor(c, actor), actor, viewer: viewerOf(c) };
}

/** What a whole search request needs besides: the results cache, the request's logger and its background work. */
export function searchRequestDeps(c: Context<AppEnv>): SearchRequestDeps {
  const { cache, background } = c.get("services");
  return { ...searchDeps(c), cache, logger: c.get("logger"), background };
}
