import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import {
  deleteSuppression,
  insertSuppressedQuery,
  selectSuppressedPhrase,
  selectSuppressedQueries,
} from "../../db/queries/analytics.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { normalizeQuery } from "../../search/query-text.ts";
import { jsonBody, jsonResponse, protectedRoute } from "../openapi.ts";
import { SuppressBodySchema, SuppressedQuerySchema, SuppressionIdParams, toSuppressedQueryJson } from "./schemas.ts";

// Administrators only, not `analytics:read`: a suppression changes what every user is offered.
const path = "/analytics/search/suppressed-queries";
const common = {
  tags: ["Analytics"],
  description:
    "Phrases kept out of everyone's autocomplete (`GET /search/suggest`): a popular query containing one is never suggested, from the next request on. Administrators only.",
};

const listRoute = protectedRoute("admin", {
  ...common,
  method: "get",
  path,
  summary: "Phrases kept out of autocomplete",
  responses: {
    200: jsonResponse("Newest first.", z.object({ data: z.array(SuppressedQuerySchema) })),
    ...problemResponses(503),
  },
});

const listSuppressedQueries = createRouter().openapi(listRoute, async (c) => {
  const [rows] = await asCaller(c).readStale((db) => [selectSuppressedQueries(db)]);
  return c.json({ data: rows.map(toSuppressedQueryJson) }, 200);
});

const suppressRoute = protectedRoute("admin", {
  ...common,
  method: "post",
  path,
  summary: "Keep a phrase out of autocomplete",
  request: { body: jsonBody(SuppressBodySchema) },
  responses: {
    201: jsonResponse("Suppressed.", SuppressedQuerySchema),
    200: jsonResponse("Already suppressed: the existing entry, unchanged.", SuppressedQuerySchema),
    ...problemResponses(400, 413, 415, 503),
  },
});

const suppressQuery = createRouter().openapi(suppressRoute, async (c) => {
  const body = c.req.valid("json");
  const phrase = normalizeQuery(body.phrase);
  // One round trip: the insert, then the row as it now is (inserted, or there already).
  const [inserted, current] = await asCaller(c).write((db) => [
    insertSuppressedQuery(db, { phrase, reason: body.reason || null, suppressedBy: callerOf(c).userId }),
    selectSuppressedPhrase(db, { phrase }),
  ]);
  const row = current[0];
  if (!row) throw new Error("a suppressed phrase vanished between its insert and its read");
  return c.json(toSuppressedQueryJson(row), inserted.length > 0 ? 201 : 200);
});

const liftRoute = protectedRoute("admin", {
  ...common,
  method: "delete",
  path: `${path}/{id}`,
  summary: "Lift a suppression",
  request: { params: SuppressionIdParams },
  responses: {
    204: { description: "Lifted: the phrase may be suggested again." },
    ...problemResponses(400, 404, 503),
  },
});

const liftSuppression = createRouter().openapi(liftRoute, async (c) => {
  const { id } = c.req.valid("param");
  const [removed] = await asCaller(c).write((db) => [deleteSuppression(db, { id })]);
  if (removed.length === 0) throw new ApiError("not_found", { detail: "No suppression with this id." });
  return c.body(null, 204);
});

/** Administrators' list of phrases kept out of autocomplete: list, suppress, lift. */
export const manageSuppressedQueries = createRouter()
  .route("/", listSuppressedQueries)
  .route("/", suppressQuery)
  .route("/", liftSuppression);
