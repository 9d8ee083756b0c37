import { batchAsActor, READ_ONLY, SYSTEM } from "../db/actor.ts";
import type { HttpDatabase } from "../db/client.ts";
import type { Viewer } from "../db/queries/documents.ts";
import { selectDocumentsAudience } from "../db/queries/documents.ts";
import type { Cache } from "../pkg/cache/cache.ts";
import { sha256Hex } from "../pkg/crypto/digest.ts";
import { DeadlineExceededError, withDeadline } from "../pkg/errors/deadline.ts";
import type { Logger } from "../pkg/logger/logger.ts";

/** How long a cached result lives, in seconds (five minutes, as the architecture document says). */
export const SEARCH_TTL_SECONDS = 300;
/**
 * Where entries live; the version changes whenever what an entry holds changes, so that results an
 * older release computed are never served by a newer one. v2: highlights whose `<mark>` elements
 * only the search writes (under v1, a document's own control characters could become markup). v3:
 * `totalRelation` and `facets.approximate` (a v2 entry has neither). v4: `facets.projects`, and
 * results that include the documents of the viewer's projects.
 */
export const SEARCH_CACHE_PREFIX = "search:v4:";
/**
 * The search's own budget for a cache read, in ms: a lookup (generation and entry, one Upstash
 * pipeline request) not answered within it is abandoned and logged, and the search answers from
 * Postgres, since a slow cache must not make search slower than no cache. An invalidation gets four
 * times as long (600 ms). Shorter than the cache's per-command `REDIS_TIMEOUT_MS` (default 1,000 ms),
 * which bounds the store.
 */
export const SEARCH_CACHE_TIMEOUT_MS = 150;

/**
 * Whose results a cached entry may be served to. Users who read everything (admins,
 * documents:read) share one scope; everyone else has their own, since what they may read differs.
 */
export function scopeOf(viewer: Viewer): string {
  return viewer.readsAll ? "all" : `user:${viewer.userId}`;
}

/**
 * Each scope's current generation. Every entry records the generation it was computed under and
 * is served only while that is still the scope's generation. Absent means "0": entries made then
 * expire (five minutes) long before the key can be absent again (ten).
 */
const generationKey = (scope: string) => `search:gen:${scope}`;

interface Entry<T> {
  /** The scope's generation when the value was computed. */
  g: string;
  v: T;
}

/** What `cachedSearch` gives: the value, whether the cache had it, and on a miss how to store it. */
export interface CachedLookup<T> {
  value: T;
  /** True when `value` came from the cache (computed under the scope's current generation). */
  hit: boolean;
  /** Stores the computed value (call after a miss; it never throws). */
  store?: () => Promise<void>;
}

/**
 * Serves `compute()` from the cache for the same scope and request: one round trip reads the
 * scope's generation and the entry together, and the entry counts only if it was computed under
 * that generation, so `invalidateScopes` makes every older entry stale at once. The key is
 * `SEARCH_CACHE_PREFIX` + scope + the SHA-256 (hex) of `request` as JSON. A cache that is off,
 * down or slower than `SEARCH_CACHE_TIMEOUT_MS` is logged and skipped, never an error; only
 * `compute()`'s own errors propagate.
 */
export async function cachedSearch<T>(
  deps: { cache: Cache; logger: Logger },
  scope: string,
  request: unknown,
  compute: () => Promise<T>,
): Promise<CachedLookup<T>> {
  const { cache, logger } = deps;
  const redis = cache.redis;
  if (!cache.enabled || !redis) return { value: await compute(), hit: false };
  const key = `${SEARCH_CACHE_PREFIX}${scope}:${await sha256Hex(JSON.stringify(request))}`;
  let generation: string;
  try {
    const [current, entry] = await withDeadline(
      redis
        .pipeline()
        .get<string | number>(generationKey(scope))
        .get<Entry<T>>(key)
        .exec<[string | number | null, Entry<T> | null]>(),
      new DeadlineExceededError("redis", SEARCH_CACHE_TIMEOUT_MS, "search cache read"),
    );
    generation = current === null ? "0" : String(current);
    if (entry && entry.g === generation) return { value: entry.v, hit: true };
  } catch (error) {
    logger.warn("search cache unavailable; answering from Postgres", { error });
    return { value: await compute(), hit: false };
  }
  const value = await compute();
  const entry: Entry<T> = { g: generation, v: value };
  return {
    value,
    hit: false,
    store: () =>
      cache
        .set(key, entry, { ttlSeconds: SEARCH_TTL_SECONDS })
        .catch((error: unknown) => logger.warn("search cache write failed", { error })),
  };
}

/**
 * Makes the cached results of these scopes stale (they are recomputed on the next search): one
 * pipeline request setting each scope's generation, for `SEARCH_TTL_SECONDS` × 2. Never throws: a
 * failure (or no answer within 4 × `SEARCH_CACHE_TIMEOUT_MS`) is logged, and entries then stay
 * until their TTL, at most five minutes stale.
 */
export async function invalidateScopes(deps: { cache: Cache; logger: Logger }, scopes: string[]): Promise<void> {
  const redis = deps.cache.redis;
  if (!deps.cache.enabled || !redis || scopes.length === 0) return;
  try {
    // A new, never reused generation (not a counter: once the key expires a counter would restart
    // and could meet entries it made before). It outlives every entry that embeds the previous one.
    const generation = `${Date.now().toString(36)}${crypto.randomUUID().slice(0, 8)}`;
    const pipeline = redis.pipeline();
    for (const scope of new Set(scopes)) pipeline.set(generationKey(scope), generation, { ex: SEARCH_TTL_SECONDS * 2 });
    await withDeadline(
      pipeline.exec(),
      new DeadlineExceededError("redis", SEARCH_CACHE_TIMEOUT_MS * 4, "search cache invalidation"),
    );
  } catch (error) {
    // Entries then stay until their TTL: at most five minutes stale.
    deps.logger.warn("search cache invalidation failed", { error, scopes });
  }
}

/**
 * After a change to a document: the results of everyone who can see it may be stale (its owner,
 * the users it is shared with, `extraUserIds` such as those it was just unshared from, and the
 * read-everything scope). One HTTP round trip to Postgres for the audience, then
 * `invalidateScopes`. Never throws: a failure is logged.
 */
export function invalidateDocument(
  deps: { cache: Cache; logger: Logger; http: HttpDatabase },
  documentId: string,
  extraUserIds: string[] = [],
): Promise<void> {
  return invalidateDocuments(deps, [documentId], extraUserIds);
}

/**
 * `invalidateDocument` for several documents at once (a processor batch's endings): one HTTP round
 * trip to Postgres for the audience of all of them, one Redis pipeline request for every scope.
 * Never throws: a failure is logged.
 */
export async function invalidateDocuments(
  deps: { cache: Cache; logger: Logger; http: HttpDatabase },
  documentIds: readonly string[],
  extraUserIds: string[] = [],
): Promise<void> {
  if (!deps.cache.enabled || documentIds.length === 0) return;
  try {
    // One HTTP round trip (src/db/actor.ts, batchAsActor).
    const [audience] = await batchAsActor(
      deps.http,
      SYSTEM,
      (db) => [selectDocumentsAudience(db, { documentIds })],
      READ_ONLY,
    );
    const scopes = [...audience.map((row) => row.id), ...extraUserIds].map((userId) => `user:${userId}`);
    await invalidateScopes(deps, [...scopes, "all"]);
  } catch (error) {
    deps.logger.warn("search cache invalidation failed", { error, documentIds });
  }
}
