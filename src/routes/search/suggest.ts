import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { POPULAR_QUERY_MIN_ACCOUNT_AGE_DAYS, POPULAR_QUERY_MIN_USERS, suggest } from "../../search/search-service.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { searchDeps } from "./deps.ts";
import { SuggestionSchema, SuggestQuery } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "get",
  path: "/search/suggest",
  tags: ["Search"],
  summary: "Autocomplete: titles, tags and popular queries",
  description: `Prefix and typo-tolerant (trigram similarity) over the titles and tags of documents you can read, and over queries at least ${POPULAR_QUERY_MIN_USERS} different users ran in the last 30 days, each with a verified email and an account at least ${POPULAR_QUERY_MIN_ACCOUNT_AGE_DAYS} days old, whose search found something and who opened a result; never a query an administrator suppressed (\`/analytics/search/suppressed-queries\`).`,
  request: { query: SuggestQuery },
  responses: {
    200: jsonResponse("Suggestions, prefix matches first.", z.object({ data: z.array(SuggestionSchema) })),
    ...problemResponses(400, 503),
  },
});

export const suggestQueries = createRouter().openapi(route, async (c) => {
  const { q, limit } = c.req.valid("query");
  return c.json({ data: await suggest(searchDeps(c), q, limit) }, 200);
});
