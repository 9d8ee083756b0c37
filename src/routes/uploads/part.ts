import { createRouter } from "../../app/create-app.ts";
import { receivePart } from "../../documents/resumable.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { resumableDeps } from "./deps.ts";
import { PartBody, PartHeaders, PartParams, UploadPartSchema } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "put",
  path: "/uploads/{id}/parts/{partNumber}",
  tags: ["Uploads"],
  summary: "Send a part of a resumable upload",
  description:
    "Exactly `partBytes` bytes (the last part: the remainder): fewer are a 400 naming both sizes, more a 413 as soon as they pass. Checked before it is stored: the `Content-Digest` SHA-256 when sent, part 1's first bytes against the declared type, text as UTF-8 without NUL (415). Sending a part again replaces it; a part whose body breaks off is not recorded. An upload past its `expiresAt` is a 404; one the store no longer has (assembled or discarded) a 409. When the instance holds as many uploads as it can, a 503 with `Retry-After`.",
  request: { params: PartParams, headers: PartHeaders, body: PartBody },
  responses: {
    200: jsonResponse("Stored and recorded.", UploadPartSchema),
    ...problemResponses(400, 404, 409, 413, 415, 503),
  },
});

export const sendPart = createRouter().openapi(route, async (c) => {
  const { id, partNumber } = c.req.valid("param");
  const part = await receivePart(
    resumableDeps(c),
    callerOf(c).actor,
    { id, partNumber },
    {
      body: c.req.raw.body,
      contentLength: c.req.header("content-length"),
      contentDigest: c.req.header("content-digest"),
    },
  );
  return c.json({ partNumber: part.partNumber, sizeBytes: part.sizeBytes, sha256: part.sha256 }, 200);
});
