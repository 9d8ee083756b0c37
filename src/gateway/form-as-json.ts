import { parse as parseJson } from "@humanwhocodes/momoa";
import type { MiddlewareHandler } from "hono";
import { ApiError } from "../pkg/errors/api-error.ts";

const FORM = /^application\/x-www-form-urlencoded(\s*;|$)/i;
const JSON_TYPE = /^application\/([\w.-]+\+)?json(\s*;|$)/i;
const FORM_MEDIA_TYPE = "application/x-www-form-urlencoded";

/**
 * Marks a route (an OpenAPI extension) whose JSON body may also come form-encoded through
 * `formAsJson`; `documentFormBodies` turns the mark into a documented media type.
 */
export const FORM_BODY = "x-form-body";

/** A JSON pointer (RFC 6901) to a top-level member. */
const pointerTo = (name: string) => `/${name.replaceAll("~", "~0").replaceAll("/", "~1")}`;

/**
 * Reads `application/x-www-form-urlencoded` (WHATWG URL §5, UTF-8) into an object, as RFC 6749
 * §3.1 and §3.2 ask of OAuth endpoints: a parameter sent without a value counts as omitted, and a
 * parameter sent twice is refused.
 *
 * @param bytes the request body
 * @returns each parameter's value by name
 * @throws ApiError `bad_request` when the body, or a percent-encoded byte sequence in it, is not
 *   UTF-8, `validation_failed` naming every
 *   repeated parameter (JSON pointer in `errors`)
 */
export function parseFormParameters(bytes: ArrayBuffer): Record<string, string> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ApiError("bad_request", { detail: "The form body is not UTF-8." });
  }
  const parameters = [...new URLSearchParams(text)];
  // Percent-encoded bytes that are not UTF-8 (`%E9`) decode to U+FFFD (WHATWG URL §5.1): every
  // U+FFFD out must be one sent, literally or as `%EF%BF%BD`, else the form is refused as above.
  const replacements = (value: string) => value.split("\uFFFD").length - 1;
  const sent = replacements(text) + (text.match(/%EF%BF%BD/gi)?.length ?? 0);
  if (parameters.reduce((sum, [name, value]) => sum + replacements(name) + replacements(value), 0) > sent) {
    throw new ApiError("bad_request", { detail: "The form body's percent-encoded bytes are not UTF-8." });
  }
  const fields: Record<string, string> = {};
  const repeated = new Set<string>();
  for (const [name, value] of parameters) {
    if (value === "") continue;
    if (Object.hasOwn(fields, name)) repeated.add(name);
    else fields[name] = value;
  }
  refuseRepeated(repeated);
  return fields;
}

/**
 * The member names a JSON object body (RFC 8259) gives more than once, which `JSON.parse` would
 * silently collapse to the last one. Anything but a well-formed object gives none: the JSON
 * validator reports those.
 *
 * @param text the request body
 * @returns each repeated top-level member name, once
 */
export function repeatedJsonMembers(text: string): Set<string> {
  const repeated = new Set<string>();
  let document: ReturnType<typeof parseJson>;
  try {
    document = parseJson(text);
  } catch {
    return repeated;
  }
  if (document.body.type !== "Object") return repeated;
  const seen = new Set<string>();
  for (const { name: node } of document.body.members) {
    // Identifiers are JSON5 only; this parses strict JSON.
    const name = node.type === "String" ? node.value : node.name;
    if (seen.has(name)) repeated.add(name);
    seen.add(name);
  }
  return repeated;
}

function refuseRepeated(names: Set<string>): void {
  if (names.size === 0) return;
  const errors = [...names].map((name) => ({
    in: "body",
    pointer: pointerTo(name),
    message: "sent more than once; a parameter must not repeat (RFC 6749 §3.2)",
  }));
  throw new ApiError("validation_failed", {
    detail: errors.map((e) => `body ${e.pointer}: ${e.message}`).join("; "),
    errors,
  });
}

/**
 * OAuth clients send form-encoded bodies (RFC 6749); others send JSON. This turns a form body into
 * the equivalent JSON request, so one zod schema validates both (@hono/zod-openapi would otherwise
 * run its JSON validator on form requests too). Either way a parameter must not repeat (RFC 6749
 * §3.2; `parseFormParameters`, `repeatedJsonMembers`). The app shell has already limited the body
 * (413) and made a read that breaks off the client's (`jsonBodyLimit`). The body is read as bytes,
 * never with `.text()`: workerd logs a warning for each such read of a body whose type is not
 * text, as a form's is.
 */
export function formAsJson(): MiddlewareHandler {
  return async function formAsJson(c, next) {
    const type = c.req.header("content-type") ?? "";
    if (FORM.test(type)) {
      const fields = parseFormParameters(await c.req.raw.arrayBuffer());
      const headers = new Headers(c.req.raw.headers);
      headers.set("content-type", "application/json");
      headers.delete("content-length");
      c.req.raw = new Request(c.req.raw, { headers, body: JSON.stringify(fields) });
      return next();
    }
    if (JSON_TYPE.test(type)) {
      // Through Hono's cached copy, which `jsonBodyLimit` read first and the validator reads after.
      const bytes = await c.req.arrayBuffer();
      refuseRepeated(repeatedJsonMembers(new TextDecoder().decode(bytes)));
      return next();
    }
    return next();
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
