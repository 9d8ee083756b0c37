import { createRouter } from "../../app/create-app.ts";
import { describeUpload } from "../../documents/resumable.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { resumableDeps } from "./deps.ts";
import { toUploadJson, UploadIdParams, UploadSchema } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "get",
  path: "/uploads/{id}",
  tags: ["Uploads"],
  summary: "Read a resumable upload",
  description:
    "The upload and the parts received so far (number, size, SHA-256): after a cut, send only the parts missing. Another user's upload is a 404.",
  request: { params: UploadIdParams },
  responses: {
    200: jsonResponse("The upload.", UploadSchema),
    ...problemResponses(400, 404, 503),
  },
});

export const readUpload = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const { upload, parts } = await describeUpload(resumableDeps(c), callerOf(c).actor, id);
  c.header("Cache-Control", "no-store");
  return c.json(toUploadJson(upload, parts), 200);
});
