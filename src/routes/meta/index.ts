import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { apiDocument } from "./api-document.ts";
import { serveDocs } from "./docs.ts";
import { serveOpenApiDocument } from "./openapi-json.ts";
import { describeProblem } from "./problems.ts";

/**
 * Routes that describe the API: its OpenAPI document, the reference page, the problem types. They
 * read the finished application (`app`), so mount this router last.
 */
export function metaRouter(app: OpenAPIHono<AppEnv>) {
  const document = apiDocument(app);
  return createRouter()
    .route("/", serveOpenApiDocument(document))
    .route("/", serveDocs(document))
    .route("/", describeProblem);
}
