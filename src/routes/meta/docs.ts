import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import type { ApiDocument } from "./api-document.ts";
import { DOCS_CSS, renderDocsPage } from "./docs-page.ts";

const pageRoute = createRoute({
  method: "get",
  path: "/docs",
  tags: ["Meta"],
  summary: "Human-readable API reference",
  responses: { 200: { description: "HTML reference.", content: { "text/html": { schema: z.string() } } } },
});

const servePage = (document: () => ApiDocument) =>
  createRouter().openapi(pageRoute, (c) => c.html(renderDocsPage(document()), 200));

const styleRoute = createRoute({
  method: "get",
  path: "/docs/style.css",
  tags: ["Meta"],
  summary: "Stylesheet of the reference page",
  responses: { 200: { description: "CSS.", content: { "text/css": { schema: z.string() } } } },
});

const serveStyle = createRouter().openapi(styleRoute, (c) =>
  c.body(DOCS_CSS, 200, { "content-type": "text/css; charset=utf-8" }),
);

/** `GET /docs`, the reference page rendered from `document()`, and its stylesheet. */
export const serveDocs = (document: () => ApiDocument) =>
  createRouter().route("/", servePage(document)).route("/", serveStyle);
