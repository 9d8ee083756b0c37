import { z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { withLength } from "../../documents/download.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { protectedRoute } from "../openapi.ts";
import { readableVersion } from "./access.ts";
import { downloadHeaders, downloadPreconditions } from "./downloads.ts";
import { DocumentIdParams, VersionQuery } from "./schemas.ts";

const route = protectedRoute(
  "caller",
  {
    method: "get",
    path: "/documents/{id}/thumbnail",
    tags: ["Documents"],
    summary: "A version's thumbnail (WebP, at most 256 px)",
    request: { params: DocumentIdParams, query: VersionQuery },
    responses: {
      200: {
        description: "The thumbnail, with a weak `ETag` and `Last-Modified`.",
        content: { "image/webp": { schema: z.string().openapi({ format: "binary" }) } },
      },
      304: { description: "Unchanged (If-None-Match, or If-Modified-Since without it)." },
      ...problemResponses(400, 404, 412, 503),
    },
  },
  { projectKeys: "row-level-security" },
);

const noThumbnail = () => new ApiError("not_found", { detail: "No thumbnail for this version." });

export const downloadThumbnail = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  // Access and the version in one HTTP round trip.
  const { version } = await readableVersion(c, id, c.req.valid("query").version);
  if (!version?.thumbnailKey || version.status === "quarantined") throw noThumbnail();
  // Made from the version's bytes when it was processed (again on reprocessing, maybe by a newer
  // encoder): the tag is weak, the date that of the processing.
  const validators = {
    etag: `W/"thumbnail-${version.sha256}"`,
    lastModified: version.processedAt ?? version.updatedAt,
  };
  const notModified = downloadPreconditions(c, validators);
  if (notModified) return notModified;
  const object = await c.get("services").thumbnails.get(version.thumbnailKey);
  if (!object) throw noThumbnail();
  return c.body(withLength(object.body, object.size), 200, {
    ...downloadHeaders(validators),
    "Content-Type": "image/webp",
    "Content-Length": String(object.size),
  });
});
