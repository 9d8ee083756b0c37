import type { MiddlewareHandler } from "hono";
import { ApiError, type FieldError } from "../pkg/errors/api-error.ts";

/** Whether `component` percent-decodes to UTF-8 text (RFC 3986 §2.1, §2.5). */
function decodes(component: string): boolean {
  if (!component.includes("%")) return true;
  try {
    decodeURIComponent(component);
    return true;
  } catch {
    return false;
  }
}

/** What is wrong with the request target's path and query, each naming where. */
function malformed(url: URL): FieldError[] {
  const errors: FieldError[] = [];
  const message = "malformed percent-encoding (each %XX must spell UTF-8)";
  if (!decodes(url.pathname)) errors.push({ in: "path", pointer: "", message });
  for (const pair of url.search.slice(1).split("&")) {
    const [name = "", value = ""] = pair.split(/=(.*)/s);
    if (decodes(name) && decodes(value)) continue;
    const readable = decodes(name) ? decodeURIComponent(name.replaceAll("+", " ")) : name;
    errors.push({ in: "query", pointer: `/${readable.replaceAll("~", "~0").replaceAll("/", "~1")}`, message });
  }
  return errors;
}

/**
 * Refuses a request whose path or query has percent-encoding that does not decode to UTF-8
 * (`%E0%A4%A`, `%ED%A0%80`: a lone surrogate) with a 400 naming the parameter. Hono leaves such a
 * sequence undecoded, so `?title=%E0%A4%A` would otherwise be stored as the literal text.
 */
export function percentEncoding(): MiddlewareHandler {
  return async function percentEncoding(c, next) {
    if (!c.req.url.includes("%")) return next();
    const errors = malformed(new URL(c.req.url));
    if (errors.length === 0) return next();
    throw new ApiError("validation_failed", {
      detail: errors.map((error) => `${error.in} ${error.pointer}: ${error.message}`).join("; "),
      errors,
    });
  };
}
