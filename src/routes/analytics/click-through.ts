import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { readClickThrough, selectClickThrough } from "../../db/queries/analytics.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { RangeQuery, RangeSchema, rangeJson, rangeOf, readReport } from "./report.ts";

const route = protectedRoute("analytics:read", {
  method: "get",
  path: "/analytics/search/click-through",
  tags: ["Analytics"],
  summary: "Click-through rate of searches",
  request: { query: RangeQuery },
  responses: {
    200: jsonResponse(
      "Share of searches with results after which a result was opened.",
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
    ...problemResponses(400, 503),
  },
});

export const reportClickThrough = createRouter().openapi(route, async (c) => {
  const range = rangeOf(c.req.valid("query"));
  const [rows] = await readReport(c, (db) => [selectClickThrough(db, range)]);
  return c.json({ range: rangeJson(range), ...readClickThrough(rows) }, 200);
});
