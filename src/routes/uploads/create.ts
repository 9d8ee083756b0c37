import { createRouter } from "../../app/create-app.ts";
import { createUpload } from "../../documents/resumable.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { jsonBody, jsonResponse, protectedRoute } from "../openapi.ts";
import { projectAllowing } from "../projects/access.ts";
import { resumableDeps } from "./deps.ts";
import { CreateUploadSchema, toUploadJson, UploadSchema } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "post",
  path: "/uploads",
  tags: ["Uploads"],
  summary: "Start a resumable upload",
  description:
    "Declares a file (type, size, SHA-256) for a new document and starts an S3 multipart upload for it. The answer gives `partBytes` and `partCount`: send each part with `PUT /uploads/{id}/parts/{partNumber}`, in any order and again after a cut, then `POST /uploads/{id}/complete`. The type, size and quotas are checked now and again on completion; an upload not completed by `expiresAt` is aborted.",
  request: { body: jsonBody(CreateUploadSchema) },
  responses: {
    201: {
      ...jsonResponse("Started. `Location` names the upload.", UploadSchema),
      headers: { Location: { description: "The upload.", schema: { type: "string" } } },
    },
    ...problemResponses(400, 403, 404, 409, 413, 415, 503),
  },
});

export const startUpload = createRouter().openapi(route, async (c) => {
  const { userId, actor } = callerOf(c);
  const declared = c.req.valid("json");
  const { projectId } = declared;
  // The caller must write in the project now (404, 403, 409 while archived), and again when the
  // document is recorded on completion (row-level security).
  if (projectId) await projectAllowing(c, projectId, "write");
  const upload = await createUpload(resumableDeps(c), { actor, ownerId: userId, projectId }, declared);
  return c.json(toUploadJson(upload, []), 201, { Location: `/uploads/${upload.id}` });
});
