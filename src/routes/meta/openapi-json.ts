import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../../app/create-app.ts";
import type { ApiDocument } from "./api-document.ts";

const route = createRoute({
  method: "get",
  path: "/openapi.json",
  tags: ["Meta"],
  summary: "This API's OpenAPI 3.1 document",
  responses: {
    200: {
      description: "The document, generated from the same zod schemas that validate requests.",
      content: { "application/json": { schema: z.object({ openapi: z.string() }).passthrough() } },
    },
  },
});

/** `GET /openapi.json`, serving `document()` (see `apiDocument`). */
export const serveOpenApiDocument = (document: () => ApiDocument) =>
  createRouter().openapi(route, (c) => c.json(document(), 200));
