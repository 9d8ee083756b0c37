import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { apiDocument } from "./api-document.ts";
import { serveDocs } from "./docs.ts";
import { serveOpenApiDocument } from "./openapi-json.ts";
import { describeProblem } from "./problems.ts";

/**
 * Routes that describe the API: its OpenAPI document, the reference page (Swagger UI, which reads
 * the document), the problem types. The document is the finished application's (`app`), so mount
 * this router last.
 */
export function metaRouter(app: OpenAPIHono<AppEnv>) {
  const document = apiDocument(app);
  return createRouter().route("/", serveOpenApiDocument(document)).route("/", serveDocs).route("/", describeProblem);
}
