import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { recordClickStatement } from "../../db/queries/analytics.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonBody, protectedRoute } from "../openapi.ts";
import { viewerOf } from "../viewer.ts";
import { ClickSchema } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "post",
  path: "/search/clicks",
  tags: ["Search"],
  summary: "Record that a search result was opened (click-through)",
  request: { body: jsonBody(ClickSchema) },
  responses: {
    204: { description: "Recorded (once per query and document)." },
    ...problemResponses(400, 404, 415, 503),
  },
});

export const recordClick = createRouter().openapi(route, async (c) => {
  const body = c.req.valid("json");
  const [result] = await asCaller(c).write((db) => [
    db.execute<{ found: boolean }>(recordClickStatement({ ...body, viewer: viewerOf(c) })),
  ]);
  if (!result.rows[0]?.found)
    throw new ApiError("not_found", { detail: "No such search of yours, or no such document." });
  return c.body(null, 204);
});
