import { createRouter } from "../../app/create-app.ts";
import { completeUpload } from "../../documents/resumable.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { invalidateDocument } from "../../search/search-cache.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { resumableDeps } from "./deps.ts";
import { toUploadJson, UploadIdParams, UploadSchema } from "./schemas.ts";

const route = protectedRoute("caller", {
  method: "post",
  path: "/uploads/{id}/complete",
  tags: ["Uploads"],
  summary: "Complete a resumable upload",
  description:
    "Assembles the parts into the document's object and records the document (quotas checked again, under the owner's lock), then publishes `document.uploaded`: processing follows as for `POST /documents`, and checks the declared SHA-256. A missing part is a 409 listing `missingParts`. Completing again answers 200 with the same document. When the store holds other bytes for a part than were recorded (two PUTs of one part at once), a 409 lists them in `missingParts`: send them again. When the store has discarded the parts, a 409 to start a new upload. A completion that ends in a 503 may be repeated: one the store carried out after all is found and recorded. On any failure after the assembly nothing is left stored.",
  request: { params: UploadIdParams },
  responses: {
    200: {
      ...jsonResponse("Already completed: the same document.", UploadSchema),
      headers: { Location: { description: "The document.", schema: { type: "string" } } },
    },
    201: {
      ...jsonResponse("Completed; `documentId` and `Location` name the new document.", UploadSchema),
      headers: { Location: { description: "The document.", schema: { type: "string" } } },
    },
    ...problemResponses(400, 403, 404, 409, 413, 415, 503),
  },
});

export const finishUpload = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const deps = resumableDeps(c);
  const { upload, created } = await completeUpload(deps, callerOf(c).actor, id);
  if (created) {
    const { cache, database } = c.get("services");
    await invalidateDocument({ cache, logger: deps.logger, http: database.http }, upload.documentId);
  }
  const location = { Location: `/documents/${upload.documentId}` };
  return created ? c.json(toUploadJson(upload, []), 201, location) : c.json(toUploadJson(upload, []), 200, location);
});
