import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { batchAsActor } from "../../db/actor.ts";
import { recordClickStatement, recordSearch } from "../../db/queries/analytics.ts";
import type { SearchFilters } from "../../db/queries/search.ts";
import { requireAuth } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { normalizeQuery } from "../../search/query-text.ts";
import { cachedSearch, scopeOf } from "../../search/search-cache.ts";
import {
  decodeSearchCursor,
  POPULAR_QUERY_MIN_ACCOUNT_AGE_DAYS,
  POPULAR_QUERY_MIN_USERS,
  type SearchRequest,
  search,
  suggest,
} from "../../search/search-service.ts";
import { toDocumentJson } from "../documents/schemas.ts";
import { BEARER, json } from "../openapi.ts";
import { viewerOf } from "../viewer.ts";
import { ClickSchema, SearchQuery, SearchResponseSchema, SuggestionSchema, SuggestQuery } from "./schemas.ts";

const deps = (c: Context<AppEnv>) => ({
  http: c.get("services").database.http,
  actor: c.get("auth").actor,
  viewer: viewerOf(c),
});

const list = (value: string | undefined) =>
  value
    ?.split(",")
    .map((item) => item.trim().toLowerCase())
    .filter(Boolean);

type SearchBody = Omit<z.infer<typeof SearchResponseSchema>, "queryId">;

const searchRoute = createRoute({
  method: "get",
  path: "/search",
  tags: ["Search"],
  summary: "Search the documents I can read",
  description:
    'Full-text search over titles (weighted highest), tags and extracted text, English stemming ("running" finds "run"). Relevance or newest first, keyset pagination, highlighted snippets, facets of all matches by tag, type and month, and "did you mean" when nothing matches. Results are cached for five minutes per caller scope (`X-Cache: HIT|MISS`); a change to a document you can see makes yours stale at once.',
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { query: SearchQuery },
  responses: {
    200: {
      description: "Results.",
      headers: z.object({ "X-Cache": z.enum(["HIT", "MISS"]) }),
      ...json(SearchResponseSchema),
    },
    ...problemResponses(400, 401, 503),
  },
});

const suggestRoute = createRoute({
  method: "get",
  path: "/search/suggest",
  tags: ["Search"],
  summary: "Autocomplete: titles, tags and popular queries",
  description: `Prefix and typo-tolerant (trigram similarity) over the titles and tags of documents you can read, and over queries at least ${POPULAR_QUERY_MIN_USERS} different users ran in the last 30 days, each with a verified email and an account at least ${POPULAR_QUERY_MIN_ACCOUNT_AGE_DAYS} days old, whose search found something and who opened a result; never a query an administrator suppressed (\`/analytics/search/suppressed-queries\`).`,
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { query: SuggestQuery },
  responses: {
    200: { description: "Suggestions, prefix matches first.", ...json(z.object({ data: z.array(SuggestionSchema) })) },
    ...problemResponses(400, 401, 503),
  },
});

const clickRoute = createRoute({
  method: "post",
  path: "/search/clicks",
  tags: ["Search"],
  summary: "Record that a search result was opened (click-through)",
  security: BEARER,
  middleware: [requireAuth()] as const,
  request: { body: { required: true, content: { "application/json": { schema: ClickSchema } } } },
  responses: {
    204: { description: "Recorded (once per query and document)." },
    ...problemResponses(400, 401, 404, 415, 503),
  },
});

export const searchRouter = createRouter()
  .openapi(searchRoute, async (c) => {
    const started = Date.now();
    const query = c.req.valid("query");
    const text = query.q ? normalizeQuery(query.q) : undefined;
    const sort = query.sort;
    let cursor: SearchRequest["cursor"];
    if (query.cursor) {
      cursor = decodeSearchCursor(query.cursor, sort, text !== undefined);
      if (!cursor) {
        throw new ApiError("validation_failed", {
          detail: "query /cursor: not a cursor of this search",
          errors: [{ in: "query", pointer: "/cursor", message: "not a cursor of this search" }],
        });
      }
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
        const result = await search(deps(c), request);
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
    services.background("recording a search", () =>
      batchAsActor(services.database.http, c.get("auth").actor, (db) => [recordSearch(db, recorded)]),
    );
    return c.json({ queryId, ...lookup.value }, 200, { "X-Cache": lookup.hit ? "HIT" : "MISS" });
  })
  .openapi(suggestRoute, async (c) => {
    const { q, limit } = c.req.valid("query");
    return c.json({ data: await suggest(deps(c), q, limit) }, 200);
  })
  .openapi(clickRoute, async (c) => {
    const body = c.req.valid("json");
    const { http, actor, viewer } = deps(c);
    const [result] = await batchAsActor(http, actor, (db) => [
      db.execute<{ found: boolean }>(recordClickStatement({ ...body, viewer })),
    ]);
    if (!result.rows[0]?.found)
      throw new ApiError("not_found", { detail: "No such search of yours, or no such document." });
    return c.body(null, 204);
  });
