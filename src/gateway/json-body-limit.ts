import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ApiError } from "../pkg/errors/api-error.ts";
import { requestBody } from "../pkg/errors/request-body.ts";

/** Media types whose bodies are read whole and parsed: JSON (and `+json`) and HTML forms. */
const PARSED_BODY = /^application\/(([\w.-]+\+)?json|x-www-form-urlencoded)(\s*;|$)/i;

const JSON_BODY = /^application\/([\w.-]+\+)?json(\s*;|$)/i;

/** The largest JSON or form body any route takes (preferences, the largest, are at most 16 KiB). */
export const MAX_PARSED_BODY_BYTES = 64 * 1024;

/**
 * Refuses a JSON or form body larger than `maxBytes` with 413, at once when Content-Length says
 * so, else as soon as the stream passes it. Such bodies are read whole before validation, and an
 * isolate has 128 MB shared by its requests: a 110 MB JSON body was buffered and parsed before its
 * fields were even looked at. Other bodies (uploads) are streamed by their routes. A body that
 * breaks off while read here is a `RequestBodyError` (400), as anywhere else; a JSON body that is
 * not UTF-8 is a 400 too.
 */
export function jsonBodyLimit(maxBytes = MAX_PARSED_BODY_BYTES): MiddlewareHandler {
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new ApiError("payload_too_large", { detail: `A JSON or form body is limited to ${maxBytes} bytes.` });
    },
  });
  return async function jsonBodyLimit(c, next) {
    const { body } = c.req.raw;
    if (!body || !PARSED_BODY.test(c.req.header("content-type") ?? "")) return next();
    // The limit reads a body of unknown length here: a read that fails is the client's (400).
    c.req.raw = new Request(c.req.raw, { body: requestBody(body) });
    if (!JSON_BODY.test(c.req.header("content-type") ?? "")) return limit(c, next);
    return limit(c, async () => {
      // Read once here (the route's parser reuses Hono's cached copy): JSON text must be UTF-8
      // (RFC 8259 §8.1), and a lenient decoder would store U+FFFD in place of the bytes sent.
      const bytes = await c.req.arrayBuffer();
      try {
        new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
      } catch {
        throw new ApiError("bad_request", { detail: "The JSON body is not UTF-8 (RFC 8259 §8.1)." });
      }
      // The bytes again as the request's body, for a route that reads the raw stream (an upload
      // sent as JSON is then refused for its type, not by a stream already read).
      c.req.raw = new Request(c.req.raw, { body: bytes });
      await next();
    });
  };
}
