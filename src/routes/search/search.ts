import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { recordSearch } from "../../db/queries/analytics.ts";
import type { SearchFilters } from "../../db/queries/search.ts";
import { invalidField } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { normalizeQuery } from "../../search/query-text.ts";
import { cachedSearch, scopeOf } from "../../search/search-cache.ts";
import { decodeSearchCursor, type SearchRequest, search } from "../../search/search-service.ts";
import { toDocumentJson } from "../documents/schemas.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { viewerOf } from "../viewer.ts";
import { searchDeps } from "./deps.ts";
import { SearchQuery, SearchResponseSchema } from "./schemas.ts";

const list = (value: string | undefined) =>
  value
    ?.split(",")
    .map((item) => item.trim().toLowerCase())
    .filter(Boolean);

type SearchBody = Omit<z.infer<typeof SearchResponseSchema>, "queryId">;

const route = protectedRoute("caller", {
  method: "get",
  path: "/search",
  tags: ["Search"],
  summary: "Search the documents I can read",
  description:
    'Full-text search over titles (weighted highest), tags and extracted text, English stemming ("running" finds "run"). Relevance or newest first, keyset pagination, highlighted snippets, facets of all matches by tag, type and month, and "did you mean" when nothing matches. Results are cached for five minutes per caller scope (`X-Cache: HIT|MISS`); a change to a document you can see makes yours stale at once.',
  request: { query: SearchQuery },
  responses: {
    200: {
      ...jsonResponse("Results.", SearchResponseSchema),
      headers: z.object({ "X-Cache": z.enum(["HIT", "MISS"]) }),
    },
    ...problemResponses(400, 503),
  },
});

export const searchDocuments = createRouter().openapi(route, async (c) => {
  const started = Date.now();
  const query = c.req.valid("query");
  const text = query.q ? normalizeQuery(query.q) : undefined;
  const sort = query.sort;
  let cursor: SearchRequest["cursor"];
  if (query.cursor) {
    cursor = decodeSearchCursor(query.cursor, sort, text !== undefined);
    if (!cursor) throw invalidField("query", "/cursor", "not a cursor of this search");
  }
  const filters: SearchFilters = {
    tags: query.tags,
    types: list(query.type),
    ownerId: query.owner,
    createdFrom: query.createdFrom ? new Date(query.createdFrom) : undefined,
    createdTo: query.createdTo ? new Date(query.createdTo) : undefined,
  };
  const request: SearchRequest = { text, filters, sort, limit: query.limit, cursor };
  const services = c.get("services");
  const viewer = viewerOf(c);

  const lookup = await cachedSearch<SearchBody>(
    { cache: services.cache, logger: c.get("logger") },
    scopeOf(viewer),
    request,
    async () => {
      const result = await search(searchDeps(c), request);
      return { ...result, data: result.data.map((hit) => ({ ...hit, document: toDocumentJson(hit.document) })) };
    },
  );
  if (lookup.store) services.background("search cache write", lookup.store);

  const queryId = crypto.randomUUID();
  const recorded = {
    id: queryId,
    userId: viewer.userId,
    query: text ?? "",
    filters: Object.fromEntries(Object.entries({ ...filters, sort }).filter(([, value]) => value !== undefined)),
    resultCount: lookup.value.total,
    latencyMs: Date.now() - started,
    cacheHit: lookup.hit,
  };
  // After the response (the services' background work is handed to waitUntil): a cached answer
  // makes no Postgres round trip the caller waits for, and this one costs one HTTP round trip.
  // Not through a queue: a consumer's batch would land seconds later, and a click on a result
  // (POST /search/clicks) must find its search at once.
  const database = asCaller(c);
  services.background("recording a search", () => database.write((db) => [recordSearch(db, recorded)]));
  return c.json({ queryId, ...lookup.value }, 200, { "X-Cache": lookup.hit ? "HIT" : "MISS" });
});
