import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { SEARCHES } from "../../pkg/metrics/catalog.ts";
import { isolateMetrics } from "../../pkg/metrics/recorder.ts";
import { runSearch } from "../../search/search-request.ts";
import { toDocumentJson } from "../documents/schemas.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { searchRequestDeps } from "./deps.ts";
import { SearchQuery, SearchResponseSchema } from "./schemas.ts";

/** The results as sent and cached: every member of the response but the search's own id. */
type SearchBody = Omit<z.infer<typeof SearchResponseSchema>, "queryId">;

const route = protectedRoute("caller", {
  method: "get",
  path: "/search",
  tags: ["Search"],
  summary: "Search the documents I can read",
  description:
    'Full-text search of the documents you can read (your personal documents, those shared with you and those of your projects) over titles (weighted highest), tags and extracted text, English stemming ("running" finds "run"). Relevance or newest first, keyset pagination, highlighted snippets, facets of all matches by tag, type, month and project, and "did you mean" when nothing matches. Results are cached for five minutes per caller scope (`X-Cache: HIT|MISS`); a change to a document you can see makes yours stale at once.',
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
  isolateMetrics.add(SEARCHES, {});
  const answer = await runSearch(
    searchRequestDeps(c),
    c.req.valid("query"),
    (result): SearchBody => ({
      ...result,
      data: result.data.map((hit) => ({ ...hit, document: toDocumentJson(hit.document) })),
    }),
  );
  return c.json({ queryId: answer.queryId, ...answer.value }, 200, { "X-Cache": answer.cacheHit ? "HIT" : "MISS" });
});
