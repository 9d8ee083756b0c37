import { createRouter } from "../../app/create-app.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { ConditionalReadHeaders, readPreconditions, VALIDATOR_HEADERS, validatorHeaders } from "../conditional.ts";
import { jsonResponse, protectedRoute } from "../openapi.ts";
import { readable } from "./access.ts";
import { documentValidators } from "./preconditions.ts";
import { DocumentIdParams, DocumentSchema, toDocumentJson } from "./schemas.ts";

const route = protectedRoute(
  "caller",
  {
    method: "get",
    path: "/documents/{id}",
    tags: ["Documents"],
    summary: "A document",
    description:
      "Another user's document that is not shared with you is a 404. Carries a strong `ETag` and `Last-Modified` for conditional writes; `If-None-Match` / `If-Modified-Since` answer 304, a failing `If-Match` / `If-Unmodified-Since` 412.",
    request: { params: DocumentIdParams, headers: ConditionalReadHeaders },
    responses: {
      200: {
        ...jsonResponse("The document, with its `ETag` and `Last-Modified`.", DocumentSchema),
        headers: VALIDATOR_HEADERS,
      },
      304: { description: "Unchanged (If-None-Match, or If-Modified-Since without it).", headers: VALIDATOR_HEADERS },
      ...problemResponses(400, 404, 412, 503),
    },
  },
  { projectKeys: "row-level-security" },
);

export const readDocument = createRouter().openapi(route, async (c) => {
  const document = await readable(c, c.req.valid("param").id);
  const validators = await documentValidators(document);
  const notModified = readPreconditions(c, validators);
  if (notModified) return notModified;
  return c.json(toDocumentJson(document), 200, validatorHeaders(validators));
});
