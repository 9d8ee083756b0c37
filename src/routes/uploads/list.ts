import { createRouter } from "../../app/create-app.ts";
import { asCaller } from "../../app/database.ts";
import { selectUnfinishedUploadsPage, uploadsPage } from "../../db/queries/uploads.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { cursorParam, pageOf } from "../../pkg/pagination/cursor.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { PageQuery } from "../pagination.ts";
import { toUploadSummaryJson, UploadPageSchema } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "get",
  path: "/uploads",
  tags: ["Uploads"],
  summary: "My unfinished resumable uploads, newest first",
  description:
    "Uploads open or being completed and not expired, with how many parts and bytes have arrived: what a client resumes after a restart, or aborts (each holds its declared size against the quotas until it completes, is aborted or expires). Keyset-paginated. Completed uploads are not listed; their documents are.",
  request: { query: PageQuery },
  responses: { 200: jsonResponse("A page.", UploadPageSchema), ...problemResponses(400, 503) },
});

export const listUploads = createRouter().openapi(route, async (c) => {
  const query = c.req.valid("query");
  const after = cursorParam(query.cursor);
  const [rows] = await asCaller(c).read((db) => [
    selectUnfinishedUploadsPage(db, { ownerId: callerOf(c).userId, limit: query.limit, after }),
  ]);
  const { page, nextCursor } = pageOf(uploadsPage(rows), query.limit);
  c.header("Cache-Control", "no-store");
  return c.json({ data: page.map(({ upload, received }) => toUploadSummaryJson(upload, received)), nextCursor }, 200);
});
