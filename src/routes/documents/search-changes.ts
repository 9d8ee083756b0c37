import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { invalidateDocument, invalidateScopes, scopeOf } from "../../search/search-cache.ts";

/**
 * After a committed change: cached search results of everyone who can see the document are made
 * stale before the response, so the caller's next search already reflects the change. One HTTP
 * round trip to read who sees it, then one Redis pipeline. Never throws (a cache that is down only
 * leaves entries to their five-minute TTL). `alsoUsers`: ids who saw it before the change (a share
 * just removed) or see it since (a share just added).
 */
export function searchChanged(c: Context<AppEnv>, documentId: string, alsoUsers: string[] = []): Promise<void> {
  const { cache, database } = c.get("services");
  return invalidateDocument({ cache, logger: c.get("logger"), http: database.http }, documentId, alsoUsers);
}

/** As `searchChanged`, for a change whose own batch already read who sees the document (`audience`: user ids). */
export function audienceChanged(c: Context<AppEnv>, audience: readonly { id: string }[]): Promise<void> {
  const scopes = audience.map((row) => scopeOf({ userId: row.id, readsAll: false }));
  return invalidateScopes({ cache: c.get("services").cache, logger: c.get("logger") }, [
    ...scopes,
    scopeOf({ userId: "", readsAll: true }),
  ]);
}
