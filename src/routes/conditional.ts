import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app/context.ts";
import { ApiError } from "../pkg/errors/api-error.ts";
import {
  evaluatePreconditions,
  httpDate,
  jsonEntityTag,
  type WriteValidators,
  writePreconditionsHold,
} from "../pkg/http/preconditions.ts";

// Lost-update protection for the JSON resources (documents, users, webhooks): each is served
// with a strong ETag of its representation and its Last-Modified, and each write evaluates the
// request's preconditions against the row it has locked, in the transaction that writes it.

/**
 * The validators of a JSON resource: the strong entity tag of `representation` (exactly the body
 * served) and, when the resource records one, its modification date.
 */
export async function validatorsOf(representation: unknown, lastModified?: Date): Promise<WriteValidators> {
  return { etag: await jsonEntityTag(representation), lastModified };
}

/**
 * `ETag`, and `Last-Modified` (an IMF-fixdate, whole seconds) when the resource has a date, with
 * `Cache-Control: private, no-cache`: a cache may keep the representation but must revalidate it
 * (RFC 9111 §5.2.2.4), so no heuristic freshness (§4.2.2) shows a client a stale one.
 */
export function validatorHeaders(validators: WriteValidators): Record<string, string> {
  return {
    "Cache-Control": "private, no-cache",
    ETag: validators.etag,
    ...(validators.lastModified ? { "Last-Modified": httpDate(validators.lastModified) } : {}),
  };
}

/**
 * Throws 412 `precondition_failed` when the request's If-Match / If-Unmodified-Since /
 * If-None-Match do not hold for the target's `current` validators (RFC 9110 §13.1.1, §13.1.4,
 * §13.2.2); nothing has been changed then. Call it inside the writing transaction, on the row
 * read `for update`, so no concurrent change slips in between the check and the write; and after
 * the access checks, since a request refused for another reason ignores its preconditions
 * (§13.2.1).
 */
export function requireWritePreconditions(c: Context<AppEnv>, current: WriteValidators): void {
  const headers = {
    ifMatch: c.req.header("if-match"),
    ifNoneMatch: c.req.header("if-none-match"),
    ifUnmodifiedSince: c.req.header("if-unmodified-since"),
  };
  if (writePreconditionsHold(headers, current)) return;
  const date = current.lastModified ? `, Last-Modified ${httpDate(current.lastModified)}` : "";
  throw new ApiError("precondition_failed", {
    detail: `The resource has changed (ETag ${current.etag}${date}); nothing was changed. Read it again, then retry with its current ETag.`,
  });
}

/**
 * The preconditions of a GET of a JSON resource (RFC 9110 §13.2.2): a failing If-Match or
 * If-Unmodified-Since throws 412 (§13.1.1 asks the origin to evaluate If-Match before any
 * method); a matching If-None-Match (weak comparison) or, without it, an If-Modified-Since the
 * resource has not changed after returns the 304 to send, with the validators (§15.4.5);
 * otherwise undefined, and the caller sends the representation with `validatorHeaders`. Without
 * a modification date, the date conditions are ignored.
 */
export function readPreconditions(c: Context<AppEnv>, current: WriteValidators): Response | undefined {
  const dated = current.lastModified !== undefined;
  const outcome = evaluatePreconditions(
    {
      ifMatch: c.req.header("if-match"),
      ifNoneMatch: c.req.header("if-none-match"),
      ifModifiedSince: dated ? c.req.header("if-modified-since") : undefined,
      ifUnmodifiedSince: dated ? c.req.header("if-unmodified-since") : undefined,
    },
    // Without a modification date the date conditions were dropped above: this one is never read.
    { etag: current.etag, lastModified: current.lastModified ?? new Date(0) },
  );
  if (outcome === "failed") {
    const date = current.lastModified ? `, Last-Modified ${httpDate(current.lastModified)}` : "";
    throw new ApiError("precondition_failed", {
      detail: `The current representation (ETag ${current.etag}${date}) does not satisfy If-Match or If-Unmodified-Since.`,
    });
  }
  if (outcome === "not_modified") return c.body(null, 304, validatorHeaders(current));
  return undefined;
}

/** The request headers of a conditional write, for the OpenAPI document (and validated as text). */
export const ConditionalWriteHeaders = z.object({
  "if-match": z.string().optional().openapi({
    description:
      "Perform the write only if the resource's current ETag is one of these (strong comparison: a weak `W/` tag never matches), or `*`. Otherwise 412 and nothing changes (RFC 9110 §13.1.1).",
    example: '"3f2a9c0e1b7d45a68e0f1c2d3b4a5968"',
  }),
  "if-unmodified-since": z.string().optional().openapi({
    description:
      "Perform the write only if the resource has not changed after this HTTP-date (whole seconds); ignored when If-Match is sent or the date is invalid (RFC 9110 §13.1.4). Otherwise 412.",
    example: "Mon, 30 Nov 2026 12:00:00 GMT",
  }),
});

/** The request headers of a conditional GET, for the OpenAPI document (and validated as text). */
export const ConditionalReadHeaders = z.object({
  "if-none-match": z.string().optional().openapi({
    description: "Answer 304 if the current ETag is one of these (weak comparison), or `*` (RFC 9110 §13.1.2).",
  }),
  "if-modified-since": z.string().optional().openapi({
    description: "Without If-None-Match: answer 304 if the resource has not changed after this HTTP-date (§13.1.3).",
  }),
  "if-match": z.string().optional().openapi({
    description: "Answer 412 unless the current ETag is one of these (strong comparison), or `*` (§13.1.1).",
  }),
  "if-unmodified-since": z.string().optional().openapi({
    description: "Without If-Match: answer 412 if the resource changed after this HTTP-date (§13.1.4).",
  }),
});

/** The response headers of a resource that has validators, for the OpenAPI document. */
export const VALIDATOR_HEADERS = {
  ETag: {
    description:
      "Strong entity tag of this representation; send it in If-Match to make a write conditional (lost-update protection).",
    schema: { type: "string" as const },
  },
  "Last-Modified": {
    description: "When the resource last changed (HTTP-date, whole seconds), for If-Unmodified-Since.",
    schema: { type: "string" as const },
  },
};
