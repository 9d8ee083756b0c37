import { createRouter } from "../../app/create-app.ts";
import {
  readCreatedPerDay,
  readDocumentMetrics,
  readProjectMetrics,
  readUserMetrics,
  selectDocumentGroups,
  selectLargestProjects,
  selectProjectTotals,
  selectSearchesPerDay,
  selectUploadsPerDay,
  selectUsersPerDay,
  selectUserTotals,
} from "../../db/queries/analytics.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { RangeQuery, rangeJson, rangeOf, readReport } from "./report.ts";
import { BusinessMetricsSchema } from "./schemas.ts";

const route = protectedRoute("analytics:read", {
  method: "get",
  path: "/analytics/metrics",
  tags: ["Analytics"],
  summary: "Business metrics: users, documents, searches, projects",
  description:
    "Users (total, active = logged in within the range, new per day), documents (count and bytes now, by type, processed / failed / quarantined / in progress, uploads per day), searches per day, and projects (not deleted: total, archived, active = with an entry in their activity feed within the range, and the largest by stored bytes with their documents and members).",
  request: { query: RangeQuery },
  responses: {
    200: jsonResponse("Metrics.", BusinessMetricsSchema),
    ...problemResponses(400, 503),
  },
});

export const reportMetrics = createRouter().openapi(route, async (c) => {
  const range = rangeOf(c.req.valid("query"));
  const [userTotals, usersPerDay, documentGroups, uploadsPerDay, searchesPerDay, projectTotals, largestProjects] =
    await readReport(c, (db) => [
      selectUserTotals(db, range),
      selectUsersPerDay(db, range),
      selectDocumentGroups(db),
      selectUploadsPerDay(db, range),
      selectSearchesPerDay(db, range),
      selectProjectTotals(db, range),
      selectLargestProjects(db),
    ]);
  return c.json(
    {
      range: rangeJson(range),
      users: readUserMetrics(userTotals, usersPerDay),
      documents: readDocumentMetrics(documentGroups, uploadsPerDay),
      searches: { perDay: readCreatedPerDay(searchesPerDay) },
      projects: readProjectMetrics(projectTotals, largestProjects),
    },
    200,
  );
});
