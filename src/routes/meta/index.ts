import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { documentFormBodies } from "../../gateway/form-as-json.ts";
import { EXEMPT_PATHS } from "../../gateway/rate-limit-policies.ts";
import { ApiError, PROBLEMS, type ProblemCode } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import { DOCS_CSS, renderDocsPage } from "./docs-page.ts";

export const API_INFO = {
  title: "TechCorp Platform API",
  version: "0.1.0",
  description:
    "Auth, users, documents and search at the edge. Every error is `application/problem+json` and carries the request id (`X-Request-ID`).",
};

const openapiRoute = createRoute({
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

const docsRoute = createRoute({
  method: "get",
  path: "/docs",
  tags: ["Meta"],
  summary: "Human-readable API reference",
  responses: { 200: { description: "HTML reference.", content: { "text/html": { schema: z.string() } } } },
});

const docsCssRoute = createRoute({
  method: "get",
  path: "/docs/style.css",
  tags: ["Meta"],
  summary: "Stylesheet of the reference page",
  responses: { 200: { description: "CSS.", content: { "text/css": { schema: z.string() } } } },
});

const ProblemTypeSchema = z
  .object({
    code: z.string().openapi({ example: "validation_failed" }),
    status: z.number().int().openapi({ example: 400 }),
    title: z.string().openapi({ example: "Validation failed" }),
    description: z.string(),
  })
  .openapi("ProblemType");

const problemRoute = createRoute({
  method: "get",
  path: "/problems/{code}",
  tags: ["Meta"],
  summary: "What a problem `type` means",
  request: {
    params: z.object({
      code: z.string().openapi({ param: { name: "code", in: "path" }, example: "validation_failed" }),
    }),
  },
  responses: {
    200: { description: "The problem type.", content: { "application/json": { schema: ProblemTypeSchema } } },
    ...problemResponses(404),
  },
});

type Operation = { responses?: Record<string, unknown> };

/**
 * The gateway rate-limits every route but the probes (src/gateway/rate-limit.ts), so every other
 * operation can answer 429: documented here once instead of in each route.
 */
function documentRateLimits<D extends { paths?: object | undefined }>(document: D): D {
  const tooMany = {
    description: "Rate limited; `Retry-After` says when to try again.",
    headers: { "Retry-After": { schema: { type: "integer" }, description: "Seconds to wait." } },
    content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
  };
  for (const [path, item] of Object.entries(document.paths ?? {}) as [string, Record<string, Operation>][]) {
    if (EXEMPT_PATHS.has(path)) continue;
    for (const operation of Object.values(item)) {
      if (operation?.responses && !operation.responses["429"]) operation.responses["429"] = tooMany;
    }
  }
  return document;
}

/**
 * Every JSON or form body is limited (src/gateway/json-body-limit.ts), so every operation
 * that takes one can answer 413: documented here once instead of in each route.
 */
function documentBodyLimits<D extends { paths?: object | undefined }>(document: D): D {
  const tooLarge = {
    description: "The body is larger than the route takes.",
    content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
  };
  for (const item of Object.values(document.paths ?? {}) as Record<
    string,
    Operation & { requestBody?: { content?: object } }
  >[]) {
    for (const operation of Object.values(item)) {
      const content = Object.keys(operation?.requestBody?.content ?? {});
      if (!content.some((type) => type.includes("json") || type === "application/x-www-form-urlencoded")) continue;
      if (operation.responses && !operation.responses["413"]) operation.responses["413"] = tooLarge;
    }
  }
  return document;
}

/**
 * Routes that describe the API. They read the finished application (`app`), so mount this
 * router last.
 */
export function metaRouter(app: OpenAPIHono<AppEnv>) {
  let document: ReturnType<typeof app.getOpenAPI31Document> | undefined;
  const openapi = () => {
    document ??= documentBodyLimits(
      documentRateLimits(documentFormBodies(app.getOpenAPI31Document({ openapi: "3.1.0", info: API_INFO }))),
    );
    return document;
  };
  return createRouter()
    .openapi(openapiRoute, (c) => c.json(openapi(), 200))
    .openapi(docsRoute, (c) => c.html(renderDocsPage(openapi()), 200))
    .openapi(docsCssRoute, (c) => c.body(DOCS_CSS, 200, { "content-type": "text/css; charset=utf-8" }))
    .openapi(problemRoute, (c) => {
      const { code } = c.req.valid("param");
      // Own keys only: `toString` or `constructor` are in every object, not problem types.
      if (!Object.hasOwn(PROBLEMS, code)) throw new ApiError("not_found", { detail: `No problem type ${code}.` });
      const problem = PROBLEMS[code as ProblemCode];
      return c.json({ code, status: problem.status, title: problem.title, description: problem.description }, 200);
    });
}
