import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { selectZeroResultQueries } from "../../db/queries/analytics.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { ListQuery, RangeSchema, rangeJson, rangeOf, readReport } from "./report.ts";

const route = protectedRoute("analytics:read", {
  method: "get",
  path: "/analytics/search/zero-results",
  tags: ["Analytics"],
  summary: "Queries that found nothing",
  request: { query: ListQuery },
  responses: {
    200: jsonResponse(
      "Zero-result queries by number of searches.",
      z.object({
        range: RangeSchema,
        data: z.array(z.object({ query: z.string(), searches: z.number().int(), lastSearchedAt: z.string() })),
      }),
    ),
    ...problemResponses(400, 503),
  },
});

export const reportZeroResults = createRouter().openapi(route, async (c) => {
  const { limit, ...query } = c.req.valid("query");
  const range = rangeOf(query);
  const [rows] = await readReport(c, (db) => [selectZeroResultQueries(db, { ...range, limit })]);
  return c.json({ range: rangeJson(range), data: rows }, 200);
});
