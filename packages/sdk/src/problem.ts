import type { components } from "./generated/openapi.ts";

/**
 * The API's closed set of problem codes: the `<code>` of a problem's `type` (`/problems/<code>`),
 * each described at `GET /problems/{code}`. The OpenAPI document types `type` as a plain string, so
 * the list is kept here; test/node/sdk-types.test.ts fails when it differs from the server's table
 * (src/pkg/errors/api-error.ts).
 */
export const PROBLEM_CODES = [
  "bad_request",
  "validation_failed",
  "invalid_grant",
  "unauthorized",
  "insufficient_user_authentication",
  "forbidden",
  "required_action",
  "mfa_required",
  "quota_exceeded",
  "not_found",
  "method_not_allowed",
  "conflict",
  "precondition_failed",
  "payload_too_large",
  "range_not_satisfiable",
  "unsupported_media_type",
  "unprocessable_content",
  "rate_limited",
  "internal_error",
  "config_invalid",
  "service_unavailable",
] as const;

/** One of {@link PROBLEM_CODES}. */
export type ProblemCode = (typeof PROBLEM_CODES)[number];

/**
 * An RFC 9457 problem as the API sends it (`application/problem+json`; the OAuth endpoints send the
 * same members as `application/json`, with `error` and `error_description` beside them). Members not
 * listed here (`quota`, `requiredActions`, `missingParts`, `mfa_token` …) are kept as sent.
 */
export type Problem = components["schemas"]["Problem"] & {
  /** RFC 6749 §5.2 code of the OAuth endpoints (`invalid_grant`, `slow_down`, `mfa_required` …). */
  error?: string;
  error_description?: string;
  [member: string]: unknown;
};

const PROBLEM_TYPE = /^\/problems\/([a-z_]+)$/;

/**
 * A non-2xx answer of the API, thrown by every call of the SDK (the raw `api` client included).
 * Network failures and aborts are not wrapped: they throw as `fetch` throws them (`TypeError`,
 * `DOMException` named `AbortError`).
 *
 * Switch on `code` (the problem type's code), not on words of `title` or `detail`:
 *
 * ```ts
 * try { await client.api.GET("/documents/{id}", { params: { path: { id } } }); }
 * catch (error) {
 *   if (error instanceof ProblemError && error.code === "not_found") …
 * }
 * ```
 */
export class ProblemError extends Error {
  /** The HTTP status of the response (the problem's `status` when the body has none). */
  readonly status: number;
  /** The problem's `type`: `/problems/<code>`, or `about:blank` when the body was not a problem. */
  readonly type: string;
  readonly title: string;
  readonly detail: string | undefined;
  /** The code of `type` (`not_found`, `validation_failed` …); undefined when `type` names none. */
  readonly code: ProblemCode | (string & {}) | undefined;
  /** The request id (the problem's `requestId`, else the `X-Request-ID` header): quote it to support. */
  readonly requestId: string | undefined;
  /** Seconds to wait before retrying, from `Retry-After` (429, 503), when sent as a number. */
  readonly retryAfterSeconds: number | undefined;
  /** The body as received: every member, those above included. */
  readonly problem: Problem;
  /** The response, its body already read; headers such as `WWW-Authenticate` stay readable. */
  readonly response: Response;

  constructor(response: Response, problem: Problem) {
    super(`${problem.status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ""}`);
    this.name = "ProblemError";
    this.status = response.status;
    this.type = problem.type;
    this.title = problem.title;
    this.detail = problem.detail || undefined;
    this.code = PROBLEM_TYPE.exec(problem.type)?.[1];
    this.requestId = problem.requestId || response.headers.get("x-request-id") || undefined;
    const retryAfter = response.headers.get("retry-after");
    this.retryAfterSeconds = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) : undefined;
    this.problem = problem;
    this.response = response;
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * The `ProblemError` for a non-2xx `response`, reading its body. A body that is not a problem (a
 * proxy's HTML page, an empty 502) still gives one: type `about:blank`, the status text as title
 * and the body's first 200 characters as detail (RFC 9457 §4.2.1).
 */
export async function problemFrom(response: Response): Promise<ProblemError> {
  const text = await response.text().catch(() => "");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (isRecord(body) && typeof body.type === "string" && typeof body.title === "string") {
    return new ProblemError(response, {
      ...body,
      type: body.type,
      title: body.title,
      status: typeof body.status === "number" ? body.status : response.status,
      detail: typeof body.detail === "string" ? body.detail : "",
      instance: typeof body.instance === "string" ? body.instance : "",
      requestId: typeof body.requestId === "string" ? body.requestId : "",
    });
  }
  return new ProblemError(response, {
    type: "about:blank",
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    detail: text.slice(0, 200),
    instance: "",
    requestId: "",
  });
}

/** Resolves to `response` when it is 2xx (or a 304 answering a conditional request); else throws. */
export async function okOrThrow(response: Response): Promise<Response> {
  if (response.ok || response.status === 304) return response;
  throw await problemFrom(response);
}
