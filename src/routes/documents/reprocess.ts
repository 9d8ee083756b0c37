import { createRouter } from "../../app/create-app.ts";
import { reprocessDocument } from "../../documents/versions.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalWriteHeaders, VALIDATOR_HEADERS } from "../conditional.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { intakeDeps } from "./deps.ts";
import { documentBody, unchangedSince } from "./preconditions.ts";
import { DocumentIdParams, DocumentSchema } from "./schemas.ts";
import { searchChanged } from "./search-changes.ts";

const route = protectedRoute(
  "documents:manage",
  {
    method: "post",
    path: "/documents/{id}/reprocess",
    tags: ["Documents (admin)"],
    summary: "Run the processing pipeline again for the current version",
    description:
      "With `If-Match` or `If-Unmodified-Since`, only if the document has not changed since (412 otherwise).",
    request: { params: DocumentIdParams, headers: ConditionalWriteHeaders },
    responses: {
      202: {
        ...jsonResponse("Queued; the document is pending again (with its new `ETag`).", DocumentSchema),
        headers: VALIDATOR_HEADERS,
      },
      ...problemResponses(400, 404, 409, 412, 503),
    },
  },
  { projectKeys: "row-level-security" },
);

export const reprocessCurrentVersion = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  // The guard checked documents:manage; the reset runs as the system, since an operator need not
  // be able to write the document themselves.
  const operatorId = callerOf(c).userId;
  const document = await reprocessDocument(intakeDeps(c), { documentId: id, operatorId }, unchangedSince(c));
  await searchChanged(c, id);
  const response = await documentBody(document);
  return c.json(response.body, 202, response.headers);
});
