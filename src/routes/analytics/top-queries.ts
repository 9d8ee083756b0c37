import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { readTopQueries, selectTopQueries } from "../../db/queries/analytics.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { ListQuery, RangeSchema, rangeJson, rangeOf, readReport } from "./report.ts";

const route = protectedRoute("analytics:read", {
  method: "get",
  path: "/analytics/search/top-queries",
  tags: ["Analytics"],
  summary: "Most frequent search queries",
  request: { query: ListQuery },
  responses: {
    200: jsonResponse(
      "Queries by number of searches.",
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
    ...problemResponses(400, 503),
  },
});

export const reportTopQueries = createRouter().openapi(route, async (c) => {
  const { limit, ...query } = c.req.valid("query");
  const range = rangeOf(query);
  const [rows] = await readReport(c, (db) => [selectTopQueries(db, { ...range, limit })]);
  return c.json({ range: rangeJson(range), data: readTopQueries(rows) }, 200);
});
