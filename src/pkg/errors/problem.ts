import { z } from "@hono/zod-openapi";
import { type FieldError, PROBLEMS, type ProblemCode } from "./api-error.ts";

/** The media type of every error response (RFC 9457 §3). */
export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** One failing field in a problem's `errors` (see `FieldError`), as documented in OpenAPI. */
export const FieldErrorSchema = z
  .object({
    in: z.string().openapi({ example: "body" }),
    pointer: z.string().openapi({ example: "/title" }),
    message: z.string().openapi({ example: "Too small: expected string to have >=1 characters" }),
  })
  .openapi("FieldError");

/** RFC 9457 problem details, with the request id and, for validation, every failing field. */
export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: "/problems/validation_failed" }),
    title: z.string().openapi({ example: "Validation failed" }),
    status: z.number().int().openapi({ example: 400 }),
    detail: z.string().openapi({ example: "title: Too small: expected string to have >=1 characters" }),
    instance: z.string().openapi({ example: "/documents" }),
    requestId: z.string().openapi({ example: "6f1c7f9e-2d0a-4a53-9d6b-0b3f7c1f2a11" }),
    errors: z.array(FieldErrorSchema).optional(),
  })
  .openapi("Problem");

/** A problem body as sent. */
export type Problem = z.infer<typeof ProblemSchema>;

/**
 * A problem's `type`: the relative URI `/problems/<code>` (RFC 9457 §3.1.1 allows a relative
 * reference, resolved against the request's URL); `/docs` describes each code.
 */
export function problemType(code: ProblemCode): string {
  return `/problems/${code}`;
}

/**
 * The RFC 9457 body for `code`: `type`, the code's `title` and `status`, `detail` (the code's
 * description when none is given), `instance` (the request's path), `requestId`, and `errors` when
 * given. `extensions` are extra members (RFC 9457 §3.2, e.g. OAuth's `error`); they never override
 * the standard ones.
 */
export function problemBody(input: {
  code: ProblemCode;
  detail?: string | undefined;
  instance: string;
  requestId: string;
  errors?: FieldError[] | undefined;
  extensions?: Record<string, unknown> | undefined;
}): Problem {
  const problem = PROBLEMS[input.code];
  return {
    ...input.extensions,
    type: problemType(input.code),
    title: problem.title,
    status: problem.status,
    detail: input.detail ?? problem.description,
    instance: input.instance,
    requestId: input.requestId,
    ...(input.errors ? { errors: input.errors } : {}),
  };
}

/** The OpenAPI `responses` entry for a problem, so every route documents its errors the same way. */
export function problemResponses<const S extends readonly (keyof typeof STATUS_DESCRIPTIONS)[]>(...statuses: S) {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: STATUS_DESCRIPTIONS[status], content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } } },
    ]),
  ) as {
    [K in S[number]]: { description: string; content: { [PROBLEM_CONTENT_TYPE]: { schema: typeof ProblemSchema } } };
  };
}

const STATUS_DESCRIPTIONS = {
  400: "The request is malformed or a field is invalid.",
  401: "Credentials are missing or invalid.",
  403: "The caller may not do this.",
  404: "Not found.",
  409: "Conflict with the current state.",
  412: "A precondition (If-Match, If-Unmodified-Since) does not hold.",
  413: "The body is too large.",
  415: "The Content-Type is not accepted.",
  416: "The byte range cannot be served.",
  422: "The content cannot be processed as asked.",
  429: "Rate limited.",
  500: "Unexpected failure.",
  503: "A dependency is unavailable; nothing was changed.",
} as const;
