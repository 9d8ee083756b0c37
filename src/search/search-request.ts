import { batchAsActor } from "../db/actor.ts";
import { recordSearch } from "../db/queries/analytics.ts";
import { PERSONAL, type SearchFilters } from "../db/queries/search.ts";
import type { Cache } from "../pkg/cache/cache.ts";
import { invalidField } from "../pkg/errors/api-error.ts";
import type { Logger } from "../pkg/logger/logger.ts";
import { normalizeQuery } from "./query-text.ts";
import { cachedSearch, scopeOf } from "./search-cache.ts";
import {
  decodeSearchCursor,
  type SearchDeps,
  type SearchRequest,
  type SearchResult,
  search,
} from "./search-service.ts";

/** A search as the client asked for it (`GET /search`'s validated query): text, filters, order, page. */
export interface SearchParameters {
  /** Web-style query text, trimmed; absent or empty browses. */
  q?: string | undefined;
  /** Tags the results all carry, lower-cased. */
  tags?: string[] | undefined;
  /** Content types, comma-separated: any of them. */
  type?: string | undefined;
  /** The owner's user id. */
  owner?: string | undefined;
  /** A project's id (lower-cased), or `none`: personal documents only. */
  project?: string | undefined;
  /** ISO 8601 instants: created at or after `createdFrom`, before `createdTo`. */
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
  sort: "relevance" | "recent";
  /** Results per page. */
  limit: number;
  /** `nextCursor` of the previous page, as the client sent it back. */
  cursor?: string | undefined;
}

/**
 * What a search request runs on: the Search Service's (`SearchDeps`), the results cache and the
 * request's logger, and `background` to hand work that may finish after the answer (the request's
 * `waitUntil`; its failures are logged, never the caller's).
 */
export interface SearchRequestDeps extends SearchDeps {
  cache: Cache;
  logger: Logger;
  background(name: string, task: () => Promise<unknown>): void;
}

/** The answer to a search: its id (for `POST /search/clicks`), the results, and whether the cache had them. */
export interface SearchAnswer<T> {
  queryId: string;
  value: T;
  cacheHit: boolean;
}

const list = (value: string | undefined) =>
  value
    ?.split(",")
    .map((item) => item.trim().toLowerCase())
    .filter(Boolean);

/**
 * Runs one search as the viewer asked for it: the cursor decoded, the results served from the
 * cache of the viewer's scope or computed by `search` and turned into their representation by
 * `present` (what the cache keeps, so a hit needs no Postgres round trip), and the search recorded
 * for analytics (`search_queries`, the id returned as `queryId`). The cache write and the record
 * are `background` tasks: the record is one HTTP round trip the caller never waits for. Not
 * through a queue: a consumer's batch would land seconds later, and a click on a result must find
 * its search at once.
 *
 * @throws ApiError `validation_failed` (400) at `/cursor` when the cursor is not one of this
 *   search (another sort, or not ours); what `search` throws (503 when Postgres is unreachable).
 */
export async function runSearch<T extends { total: number }>(
  deps: SearchRequestDeps,
  parameters: SearchParameters,
  present: (result: SearchResult) => T,
): Promise<SearchAnswer<T>> {
  const started = Date.now();
  const text = parameters.q ? normalizeQuery(parameters.q) : undefined;
  const sort = parameters.sort;
  let cursor: SearchRequest["cursor"];
  if (parameters.cursor) {
    cursor = decodeSearchCursor(parameters.cursor, sort, text !== undefined);
    if (!cursor) throw invalidField("query", "/cursor", "not a cursor of this search");
  }
  const filters: SearchFilters = {
    tags: parameters.tags,
    types: list(parameters.type),
    ownerId: parameters.owner,
    projectId: parameters.project === PERSONAL ? null : parameters.project,
    createdFrom: parameters.createdFrom ? new Date(parameters.createdFrom) : undefined,
    createdTo: parameters.createdTo ? new Date(parameters.createdTo) : undefined,
  };
  const request: SearchRequest = { text, filters, sort, limit: parameters.limit, cursor };

  const lookup = await cachedSearch<T>(deps, scopeOf(deps.viewer), request, async () =>
    present(await search(deps, request)),
  );
  if (lookup.store) deps.background("search cache write", lookup.store);

  const queryId = crypto.randomUUID();
  const recorded = {
    id: queryId,
    userId: deps.viewer.userId,
    query: text ?? "",
    filters: Object.fromEntries(Object.entries({ ...filters, sort }).filter(([, value]) => value !== undefined)),
    resultCount: lookup.value.total,
    latencyMs: Date.now() - started,
    cacheHit: lookup.hit,
  };
  deps.background("recording a search", () =>
    batchAsActor(deps.http, deps.actor, (db) => [recordSearch(db, recorded)]),
  );
  return { queryId, value: lookup.value, cacheHit: lookup.hit };
}
