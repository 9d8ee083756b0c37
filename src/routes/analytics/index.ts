import { createRoute, z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { batchAsActor, READ_ONLY, SYSTEM } from "../../db/actor.ts";
import type { HttpQueryBuilder, HttpStatements } from "../../db/client.ts";
import {
  deleteSuppression,
  insertSuppressedQuery,
  type Range,
  readClickThrough,
  readCreatedPerDay,
  readDocumentMetrics,
  readSearchLatency,
  readTopQueries,
  readUserMetrics,
  selectClickThrough,
  selectDocumentGroups,
  selectSearchesPerDay,
  selectSearchLatency,
  selectSuppressedPhrase,
  selectSuppressedQueries,
  selectTopQueries,
  selectUploadsPerDay,
  selectUsersPerDay,
  selectUserTotals,
  selectZeroResultQueries,
} from "../../db/queries/analytics.ts";
import type { SuppressedQuery } from "../../db/schema/search.ts";
import { requireAuth, requirePermission } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { isPostgresInstant } from "../../pkg/validation/postgres.ts";
import { normalizeQuery } from "../../search/query-text.ts";
import { instant, nonBlankText, text, uuid } from "../fields.ts";
import { BEARER, json } from "../openapi.ts";
import { PageQuery } from "../pagination.ts";

const DAY = 86_400_000;
const MAX_RANGE_DAYS = 366;

const RangeQuery = z.object({
  from: instant()
    .optional()
    .openapi({
      param: { name: "from", in: "query" },
      description: `Inclusive; default 7 days before \`to\`. Must be before \`to\`, at most ${MAX_RANGE_DAYS} days before it (400 otherwise).`,
    }),
  to: instant()
    .optional()
    .openapi({ param: { name: "to", in: "query" }, description: "Exclusive; default now." }),
});
const ListQuery = RangeQuery.extend({ limit: PageQuery.shape.limit });

const RangeSchema = z.object({ from: z.iso.datetime(), to: z.iso.datetime() });
const PerDaySchema = z.array(z.object({ day: z.string().openapi({ example: "2026-11-24" }), count: z.number().int() }));
const LatencySchema = z.object({
  searches: z.number().int(),
  p50: z.number().nullable(),
  p95: z.number().nullable(),
  p99: z.number().nullable(),
});

function rangeOf(query: { from?: string | undefined; to?: string | undefined }): Range {
  const to = query.to ? new Date(query.to) : new Date();
  const from = query.from ? new Date(query.from) : new Date(to.getTime() - 7 * DAY);
  const invalid = (message: string, field = "from") =>
    new ApiError("validation_failed", {
      detail: `query /${field}: ${message}`,
      errors: [{ in: "query", pointer: `/${field}`, message }],
    });
  // The default `from`, 7 days before `to`, must be an instant Postgres reads too.
  if (!isPostgresInstant(from)) throw invalid("give `from`: 7 days before `to` is before the year 1", "to");
  if (from >= to) throw invalid("must be before `to`");
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY)
    throw invalid(`the range is at most ${MAX_RANGE_DAYS} days`);
  return { from, to };
}

/**
 * The permission was checked by the route; the reports read every user's rows, as the system, in
 * one read-only HTTP batch (one round trip).
 */
const report = <T extends HttpStatements>(c: Context<AppEnv>, build: (db: HttpQueryBuilder) => T) =>
  batchAsActor(c.get("services").database.http, SYSTEM, build, READ_ONLY);

const range = (r: Range) => ({ from: r.from.toISOString(), to: r.to.toISOString() });

const common = { tags: ["Analytics"], security: BEARER };

/**
 * Route middleware: 401 when anonymous, 403 unless the caller is an administrator. Suppressing
 * queries changes what every user is offered, so reading analytics (`analytics:read`) is not enough.
 */
function requireAdmin(): MiddlewareHandler<AppEnv> {
  const authenticated = requireAuth();
  return async function requireAdmin(c, next) {
    await authenticated(c, async () => {
      if (c.get("auth").role !== "admin") {
        throw new ApiError("forbidden", { detail: "Only administrators manage suppressed queries." });
      }
      await next();
    });
  };
}

const SuppressedQuerySchema = z
  .object({
    id: z.uuid(),
    phrase: z.string().openapi({ description: "Normalised: trimmed, lower-cased, white space collapsed." }),
    reason: z.string().nullable(),
    suppressedBy: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi("SuppressedQuery");

const SuppressBodySchema = z
  .strictObject({
    phrase: nonBlankText().trim().max(200).openapi({
      description: "A popular query containing it (case-insensitively) is never suggested.",
      example: "buy cheap",
    }),
    reason: text().trim().max(500).optional().openapi({ description: "For the other administrators." }),
  })
  .openapi("SuppressQuery");

const SuppressionIdParams = z.object({ id: uuid().openapi({ param: { name: "id", in: "path" } }) });

const suppressedJson = (row: SuppressedQuery) => ({
  id: row.id,
  phrase: row.phrase,
  reason: row.reason,
  suppressedBy: row.suppressedBy,
  createdAt: row.createdAt.toISOString(),
});

const suppressedPath = "/analytics/search/suppressed-queries";
const suppressedCommon = {
  ...common,
  description:
    "Phrases kept out of everyone's autocomplete (`GET /search/suggest`): a popular query containing one is never suggested, from the next request on. Administrators only.",
};

const listSuppressedRoute = createRoute({
  ...suppressedCommon,
  middleware: [requireAdmin()] as const,
  method: "get",
  path: suppressedPath,
  summary: "Phrases kept out of autocomplete",
  responses: {
    200: { description: "Newest first.", ...json(z.object({ data: z.array(SuppressedQuerySchema) })) },
    ...problemResponses(401, 403, 503),
  },
});

const suppressRoute = createRoute({
  ...suppressedCommon,
  middleware: [requireAdmin()] as const,
  method: "post",
  path: suppressedPath,
  summary: "Keep a phrase out of autocomplete",
  request: { body: { required: true, content: { "application/json": { schema: SuppressBodySchema } } } },
  responses: {
    201: { description: "Suppressed.", ...json(SuppressedQuerySchema) },
    200: { description: "Already suppressed: the existing entry, unchanged.", ...json(SuppressedQuerySchema) },
    ...problemResponses(400, 401, 403, 413, 415, 503),
  },
});

const liftRoute = createRoute({
  ...suppressedCommon,
  middleware: [requireAdmin()] as const,
  method: "delete",
  path: `${suppressedPath}/{id}`,
  summary: "Lift a suppression",
  request: { params: SuppressionIdParams },
  responses: {
    204: { description: "Lifted: the phrase may be suggested again." },
    ...problemResponses(400, 401, 403, 404, 503),
  },
});

const topRoute = createRoute({
  ...common,
  middleware: [requirePermission("analytics:read")] as const,
  method: "get",
  path: "/analytics/search/top-queries",
  summary: "Most frequent search queries",
  request: { query: ListQuery },
  responses: {
    200: {
      description: "Queries by number of searches.",
      ...json(
        z.object({
          range: RangeSchema,
          data: z.array(
            z.object({
              query: z.string(),
              searches: z.number().int(),
              users: z.number().int(),
              averageResults: z.number(),
            }),
          ),
        }),
      ),
    },
    ...problemResponses(400, 401, 403, 503),
  },
});

const zeroRoute = createRoute({
  ...common,
  middleware: [requirePermission("analytics:read")] as const,
  method: "get",
  path: "/analytics/search/zero-results",
  summary: "Queries that found nothing",
  request: { query: ListQuery },
  responses: {
    200: {
      description: "Zero-result queries by number of searches.",
      ...json(
        z.object({
          range: RangeSchema,
          data: z.array(z.object({ query: z.string(), searches: z.number().int(), lastSearchedAt: z.string() })),
        }),
      ),
    },
    ...problemResponses(400, 401, 403, 503),
  },
});

const latencyRoute = createRoute({
  ...common,
  middleware: [requirePermission("analytics:read")] as const,
  method: "get",
  path: "/analytics/search/latency",
  summary: "Search latency percentiles (ms), overall and by cache hit or miss",
  request: { query: RangeQuery },
  responses: {
    200: {
      description: "Percentiles of server-side latency.",
      ...json(z.object({ range: RangeSchema, all: LatencySchema, cacheHit: LatencySchema, cacheMiss: LatencySchema })),
    },
    ...problemResponses(400, 401, 403, 503),
  },
});

const ctrRoute = createRoute({
  ...common,
  middleware: [requirePermission("analytics:read")] as const,
  method: "get",
  path: "/analytics/search/click-through",
  summary: "Click-through rate of searches",
  request: { query: RangeQuery },
  responses: {
    200: {
      description: "Share of searches with results after which a result was opened.",
      ...json(
        z.object({
          range: RangeSchema,
          searches: z.number().int(),
          searchesWithResults: z.number().int(),
          searchesWithClicks: z.number().int(),
          clickThroughRate: z.number().nullable(),
          clicks: z.number().int(),
          meanClickPosition: z.number().nullable(),
        }),
      ),
    },
    ...problemResponses(400, 401, 403, 503),
  },
});

const metricsRoute = createRoute({
  ...common,
  middleware: [requirePermission("analytics:read")] as const,
  method: "get",
  path: "/analytics/metrics",
  summary: "Business metrics: users, documents, searches",
  description:
    "Users (total, active = logged in within the range, new per day), documents (count and bytes now, by type, processed / failed / quarantined / in progress, uploads per day) and searches per day.",
  request: { query: RangeQuery },
  responses: {
    200: {
      description: "Metrics.",
      ...json(
        z
          .object({
            range: RangeSchema,
            users: z.object({ total: z.number().int(), active: z.number().int(), newPerDay: PerDaySchema }),
            documents: z.object({
              count: z.number().int(),
              bytes: z.number(),
              processed: z.number().int(),
              failed: z.number().int(),
              quarantined: z.number().int(),
              inProgress: z.number().int(),
              byType: z.array(z.object({ type: z.string(), count: z.number().int(), bytes: z.number() })),
              uploadedPerDay: PerDaySchema,
            }),
            searches: z.object({ perDay: PerDaySchema }),
          })
          .openapi("BusinessMetrics"),
      ),
    },
    ...problemResponses(400, 401, 403, 503),
  },
});

export const analyticsRouter = createRouter()
  .openapi(topRoute, async (c) => {
    const query = c.req.valid("query");
    const r = rangeOf(query);
    return c.json(
      {
        range: range(r),
        data: readTopQueries((await report(c, (db) => [selectTopQueries(db, { ...r, limit: query.limit })]))[0]),
      },
      200,
    );
  })
  .openapi(zeroRoute, async (c) => {
    const query = c.req.valid("query");
    const r = rangeOf(query);
    const [rows] = await report(c, (db) => [selectZeroResultQueries(db, { ...r, limit: query.limit })]);
    return c.json({ range: range(r), data: rows }, 200);
  })
  .openapi(latencyRoute, async (c) => {
    const r = rangeOf(c.req.valid("query"));
    const [rows] = await report(c, (db) => [selectSearchLatency(db, r)]);
    return c.json({ range: range(r), ...readSearchLatency(rows) }, 200);
  })
  .openapi(ctrRoute, async (c) => {
    const r = rangeOf(c.req.valid("query"));
    const [rows] = await report(c, (db) => [selectClickThrough(db, r)]);
    return c.json({ range: range(r), ...readClickThrough(rows) }, 200);
  })
  .openapi(metricsRoute, async (c) => {
    const r = rangeOf(c.req.valid("query"));
    const [userTotals, usersPerDay, documentGroups, uploadsPerDay, searchesPerDay] = await report(c, (db) => [
      selectUserTotals(db, r),
      selectUsersPerDay(db, r),
      selectDocumentGroups(db),
      selectUploadsPerDay(db, r),
      selectSearchesPerDay(db, r),
    ]);
    return c.json(
      {
        range: range(r),
        users: readUserMetrics(userTotals, usersPerDay),
        documents: readDocumentMetrics(documentGroups, uploadsPerDay),
        searches: { perDay: readCreatedPerDay(searchesPerDay) },
      },
      200,
    );
  })
  .openapi(listSuppressedRoute, async (c) => {
    const [rows] = await batchAsActor(
      c.get("services").database.http,
      c.get("auth").actor,
      (db) => [selectSuppressedQueries(db)],
      READ_ONLY,
    );
    return c.json({ data: rows.map(suppressedJson) }, 200);
  })
  .openapi(suppressRoute, async (c) => {
    const body = c.req.valid("json");
    const { actor, userId } = c.get("auth");
    const phrase = normalizeQuery(body.phrase);
    // One round trip: the insert, then the row as it now is (inserted, or there already).
    const [inserted, current] = await batchAsActor(c.get("services").database.http, actor, (db) => [
      insertSuppressedQuery(db, { phrase, reason: body.reason || null, suppressedBy: userId }),
      selectSuppressedPhrase(db, { phrase }),
    ]);
    const row = current[0];
    if (!row) throw new Error("a suppressed phrase vanished between its insert and its read");
    return c.json(suppressedJson(row), inserted.length > 0 ? 201 : 200);
  })
  .openapi(liftRoute, async (c) => {
    const { id } = c.req.valid("param");
    const [removed] = await batchAsActor(c.get("services").database.http, c.get("auth").actor, (db) => [
      deleteSuppression(db, { id }),
    ]);
    if (removed.length === 0) throw new ApiError("not_found", { detail: "No suppression with this id." });
    return c.body(null, 204);
  });
