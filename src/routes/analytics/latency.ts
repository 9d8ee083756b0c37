import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { readSearchLatency, selectSearchLatency } from "../../db/queries/analytics.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { RangeQuery, RangeSchema, rangeJson, rangeOf, readReport } from "./report.ts";

const LatencySchema = z.object({
  searches: z.number().int(),
  p50: z.number().nullable(),
  p95: z.number().nullable(),
  p99: z.number().nullable(),
});

const route = protectedRoute("analytics:read", {
  method: "get",
  path: "/analytics/search/latency",
  tags: ["Analytics"],
  summary: "Search latency percentiles (ms), overall and by cache hit or miss",
  request: { query: RangeQuery },
  responses: {
    200: jsonResponse(
      "Percentiles of server-side latency.",
      z.object({ range: RangeSchema, all: LatencySchema, cacheHit: LatencySchema, cacheMiss: LatencySchema }),
    ),
    ...problemResponses(400, 503),
  },
});

export const reportSearchLatency = createRouter().openapi(route, async (c) => {
  const range = rangeOf(c.req.valid("query"));
  const [rows] = await readReport(c, (db) => [selectSearchLatency(db, range)]);
  return c.json({ range: rangeJson(range), ...readSearchLatency(rows) }, 200);
});
