import { createRouter } from "../../app/create-app.ts";
import { abortUpload } from "../../documents/resumable.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { protectedRoute } from "../openapi.ts";
import { resumableDeps } from "./deps.ts";
import { UploadIdParams } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "delete",
  path: "/uploads/{id}",
  tags: ["Uploads"],
  summary: "Abort a resumable upload",
  description:
    "Closes the upload at once (no part or completion takes it from then on), then discards the multipart upload and every part stored (AbortMultipartUpload), and the upload. A completed upload, or one being completed, is a 409 (delete its document instead). When storage fails (503) the upload stays closed and is discarded by the sweeper.",
  request: { params: UploadIdParams },
  responses: {
    204: { description: "Aborted; nothing is left stored." },
    ...problemResponses(400, 404, 409, 503),
  },
});

export const cancelUpload = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  await abortUpload(resumableDeps(c), callerOf(c).actor, id);
  return c.body(null, 204);
});
