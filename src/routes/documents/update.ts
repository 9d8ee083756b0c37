import { createRouter } from "../../app/create-app.ts";
import { changeDocument } from "../../documents/changes.ts";
import { callerOf } from "../../gateway/authentication.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalWriteHeaders, VALIDATOR_HEADERS } from "../conditional.ts";
import { jsonBody, jsonResponse, protectedRoute } from "../openapi.ts";
import { viewerOf } from "../viewer.ts";
import { conditionalWrite, documentBody, unchangedSince } from "./preconditions.ts";
import { DocumentIdParams, DocumentSchema, UpdateDocumentSchema } from "./schemas.ts";
import { audienceChanged, searchChanged } from "./search-changes.ts";

const route = protectedRoute(
  "caller",
  {
    method: "patch",
    path: "/documents/{id}",
    tags: ["Documents"],
    summary: "Change title or tags",
    description:
      "With `If-Match` (the ETag of `GET /documents/{id}`) or `If-Unmodified-Since`, only if the document has not changed since: otherwise 412 and nothing changes.",
    request: { params: DocumentIdParams, headers: ConditionalWriteHeaders, body: jsonBody(UpdateDocumentSchema) },
    responses: {
      200: { ...jsonResponse("The document, with its new `ETag`.", DocumentSchema), headers: VALIDATOR_HEADERS },
      ...problemResponses(400, 403, 404, 409, 412, 415, 503),
    },
  },
  { projectKeys: "row-level-security" },
);

export const editDocument = createRouter().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const { title, tags } = c.req.valid("json");
  // Without preconditions the change is one HTTP round trip that also reads who sees the document.
  const { document, audience } = await changeDocument(
    c.get("services").database,
    callerOf(c).actor,
    { id, viewer: viewerOf(c), title, tags },
    conditionalWrite(c) ? unchangedSince(c) : undefined,
  );
  await (audience ? audienceChanged(c, audience) : searchChanged(c, id));
  const response = await documentBody(document);
  return c.json(response.body, 200, response.headers);
});
