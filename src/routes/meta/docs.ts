import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import { serveBuiltPage } from "../built-pages.ts";

const route = createRoute({
  method: "get",
  path: "/docs",
  tags: ["Meta"],
  summary: "Human-readable API reference",
  description:
    "Swagger UI reading `/openapi.json`: every operation with its schemas, examples and Markdown descriptions, and a form to try it. Its script and stylesheet are files of this origin under `/assets/` (web/docs), so it runs under `Content-Security-Policy: default-src 'self'`.",
  responses: { 200: { description: "The reference page.", content: { "text/html": { schema: z.string() } } } },
});

/** `GET /docs`: the reference page Vite built from web/docs (Swagger UI), read from the asset binding. */
export const serveDocs = createRouter().openapi(route, (c) => serveBuiltPage(c, "/docs/index.html"));
