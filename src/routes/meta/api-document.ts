import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../app/context.ts";
import { documentFormBodies } from "../../gateway/form-as-json.ts";

export const API_INFO = {
  title: "TechCorp Platform API",
  version: "0.1.0",
  description:
    "Auth, users, documents and search at the edge. Every error is `application/problem+json` and carries the request id (`X-Request-ID`).",
};

/** The API's OpenAPI 3.1 document, as `/openapi.json` serves it. */
export type ApiDocument = ReturnType<OpenAPIHono<AppEnv>["getOpenAPI31Document"]>;

type Operation = { responses?: Record<string, unknown>; "x-rate-limit-policy"?: string | false };

/**
 * The gateway rate-limits every route but those declared `rateLimit: false` (the liveness probe,
 * `x-rate-limit-policy: false`; src/gateway/rate-limit.ts), so every other operation can answer
 * 429: documented here once instead of in each route.
 */
function documentRateLimits<D extends { paths?: object | undefined }>(document: D): D {
  const tooMany = {
    description: "Rate limited; `Retry-After` says when to try again.",
    headers: { "Retry-After": { schema: { type: "integer" }, description: "Seconds to wait." } },
    content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
  };
  for (const item of Object.values(document.paths ?? {}) as Record<string, Operation>[]) {
    for (const operation of Object.values(item)) {
      if (operation?.["x-rate-limit-policy"] === false) continue;
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
 * The document of the finished `app`: generated from its routes on the first call (the routes'
 * zod schemas, OpenAPI 3.1), then what the gateway adds to every route written in once (form
 * bodies, 429, 413), and kept for the isolate's life: the routes do not change once mounted.
 */
export function apiDocument(app: OpenAPIHono<AppEnv>): () => ApiDocument {
  let document: ApiDocument | undefined;
  return () => {
    document ??= documentBodyLimits(
      documentRateLimits(documentFormBodies(app.getOpenAPI31Document({ openapi: "3.1.0", info: API_INFO }))),
    );
    return document;
  };
}
