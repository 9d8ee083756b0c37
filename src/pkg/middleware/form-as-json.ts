import type { MiddlewareHandler } from "hono";

const FORM = /^application\/x-www-form-urlencoded(\s*;|$)/i;
const FORM_MEDIA_TYPE = "application/x-www-form-urlencoded";

/**
 * Marks a route (an OpenAPI extension) whose JSON body may also come form-encoded through
 * `formAsJson`; `documentFormBodies` turns the mark into a documented media type.
 */
export const FORM_BODY = "x-form-body";
const MAX_FORM_BYTES = 64 * 1024;

/**
 * OAuth clients send form-encoded bodies (RFC 6749); others send JSON. This turns a form body into
 * the equivalent JSON request, so one zod schema validates both (@hono/zod-openapi would otherwise
 * run its JSON validator on form requests too). A repeated field keeps its first value.
 */
export function formAsJson(): MiddlewareHandler {
  return async function formAsJson(c, next) {
    if (FORM.test(c.req.header("content-type") ?? "")) {
      const text = await c.req.raw.text();
      if (text.length > MAX_FORM_BYTES) return next();
      const fields: Record<string, string> = {};
      for (const [key, value] of new URLSearchParams(text)) if (!(key in fields)) fields[key] = value;
      const headers = new Headers(c.req.raw.headers);
      headers.set("content-type", "application/json");
      headers.delete("content-length");
      c.req.raw = new Request(c.req.raw, { headers, body: JSON.stringify(fields) });
    }
    await next();
  };
}

interface DocumentedOperation {
  [FORM_BODY]?: boolean;
  requestBody?: { content?: Record<string, unknown> };
}

/** Documents the form-encoded media type of every operation marked with FORM_BODY (same schema as JSON). */
export function documentFormBodies<D extends { paths?: object | undefined }>(document: D): D {
  for (const item of Object.values(document.paths ?? {}) as (object | undefined)[]) {
    for (const operation of Object.values(item ?? {}) as DocumentedOperation[]) {
      if (!operation || typeof operation !== "object" || !operation[FORM_BODY]) continue;
      delete operation[FORM_BODY];
      const content = operation.requestBody?.content;
      const json = content?.["application/json"];
      if (content && json) content[FORM_MEDIA_TYPE] = json;
    }
  }
  return document;
}
