import type { ContentfulStatusCode } from "hono/utils/http-status";

/**
 * The closed set of problems this API reports. Each becomes the `type` of an RFC 9457 problem
 * (`/problems/<code>`), with the status and title given here.
 */
export const PROBLEMS = {
  bad_request: { status: 400, title: "Bad request", description: "The request is malformed." },
  validation_failed: {
    status: 400,
    title: "Validation failed",
    description: "One or more fields are invalid; `errors` names each of them.",
  },
  invalid_grant: {
    status: 400,
    title: "Invalid grant",
    description: "The credentials, refresh token or code were not accepted (OAuth `invalid_grant`).",
  },
  unauthorized: { status: 401, title: "Unauthorized", description: "Credentials are missing or invalid." },
  insufficient_user_authentication: {
    status: 401,
    title: "Recent authentication required",
    description:
      "The session's sign-in is older than this operation accepts (RFC 9470): sign in again and retry within `max_age` seconds, which `WWW-Authenticate` and the problem give.",
  },
  forbidden: { status: 403, title: "Forbidden", description: "The caller may not do this." },
  required_action: {
    status: 403,
    title: "Required action pending",
    description:
      "The session must first complete the actions `requiredActions` names (`CONFIGURE_TOTP`: enrol a second factor at /auth/mfa/setup and /auth/mfa/confirm; `UPDATE_PASSWORD`: change the password at POST /users/me/password); until then only those routes, GET /users/me and POST /auth/logout answer.",
  },
  mfa_required: {
    status: 403,
    title: "Second factor required",
    description: "The password was right; complete the login with a TOTP or recovery code and `mfa_token`.",
  },
  quota_exceeded: {
    status: 403,
    title: "Quota exceeded",
    description:
      "The change would take the owner past a storage quota; `quota` names it (bytes, documents or versions) and `limit`, `used` and `requested` give the figures. Nothing was stored.",
  },
  not_found: { status: 404, title: "Not found", description: "Nothing exists at this address for the caller." },
  method_not_allowed: {
    status: 405,
    title: "Method not allowed",
    description: "The resource exists but does not support this method; `Allow` lists those it does.",
  },
  conflict: { status: 409, title: "Conflict", description: "The request conflicts with the current state." },
  precondition_failed: {
    status: 412,
    title: "Precondition failed",
    description:
      "A condition of the request (If-Match, If-Unmodified-Since, or If-None-Match on a change) does not hold for the current representation (RFC 9110 §13.1).",
  },
  payload_too_large: { status: 413, title: "Payload too large", description: "The body exceeds the size limit." },
  range_not_satisfiable: {
    status: 416,
    title: "Range not satisfiable",
    description: "The requested byte range lies outside the content; Content-Range gives its size.",
  },
  unsupported_media_type: {
    status: 415,
    title: "Unsupported media type",
    description: "The body's Content-Type is not accepted here.",
  },
  unprocessable_content: {
    status: 422,
    title: "Unprocessable content",
    description: "The request is well-formed, but the stored content cannot be processed as asked.",
  },
  rate_limited: {
    status: 429,
    title: "Too many requests",
    description: "A rate limit was reached; `Retry-After` says when to try again.",
  },
  internal_error: {
    status: 500,
    title: "Internal server error",
    description: "Something failed on our side; the request id identifies it in our logs.",
  },
  config_invalid: {
    status: 500,
    title: "Service misconfigured",
    description: "The deployment's configuration is missing or malformed; the service refuses to run on it.",
  },
  service_unavailable: {
    status: 503,
    title: "Service unavailable",
    description: "A dependency is unreachable; nothing was changed. Retry later.",
  },
} as const satisfies Record<string, { status: ContentfulStatusCode; title: string; description: string }>;

/** One of the closed set of `PROBLEMS`: `validation_failed`, `not_found`, … */
export type ProblemCode = keyof typeof PROBLEMS;

/** One failing field of a validation problem: a JSON pointer into the input and what is wrong. */
export interface FieldError {
  /** Which part of the request: body, query, path, header. */
  in: string;
  pointer: string;
  message: string;
}

/** What an `ApiError` carries besides its code. */
export interface ApiErrorOptions {
  /** The problem's `detail`: this occurrence, in words a client may read (no secrets, no internals). */
  detail?: string;
  /** For `validation_failed`: each failing field (prefer `validationFailed` / `invalidField`). */
  errors?: FieldError[];
  /** Response headers to send with the problem (`Retry-After`, `WWW-Authenticate`, `Allow`, …). */
  headers?: Record<string, string>;
  /** Extra members of the problem, e.g. the OAuth `error` code (never overriding the standard ones). */
  extensions?: Record<string, unknown>;
  cause?: unknown;
}

/** The one error type handlers throw; `onError` turns it into `application/problem+json`. */
export class ApiError extends Error {
  readonly code: ProblemCode;
  readonly detail: string | undefined;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;
  readonly extensions: Record<string, unknown>;

  constructor(code: ProblemCode, options: ApiErrorOptions = {}) {
    super(options.detail ?? PROBLEMS[code].title, { cause: options.cause });
    this.name = "ApiError";
    this.code = code;
    this.detail = options.detail;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }

  get status(): ContentfulStatusCode {
    return PROBLEMS[this.code].status;
  }
}

/**
 * A 400 `validation_failed` naming every failing field, with the same shape as the validation
 * hook's: `errors` as given, `detail` as `"<in> <pointer>: <message>"` joined by `"; "`.
 */
export function validationFailed(errors: FieldError[]): ApiError {
  return new ApiError("validation_failed", {
    detail: errors.map((e) => `${e.in} ${e.pointer}: ${e.message}`).join("; "),
    errors,
  });
}

/**
 * A 400 `validation_failed` naming one field: `where` the part of the request (`body`, `query`,
 * `path`, `header`), `pointer` a JSON pointer into it (RFC 6901, `/url`).
 */
export function invalidField(where: FieldError["in"], pointer: string, message: string): ApiError {
  return validationFailed([{ in: where, pointer, message }]);
}

/** RFC 6749 §5.2 error codes, carried as the `error` member of the problem. */
export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "invalid_scope"
  | "mfa_required"
  | "slow_down"
  // RFC 7009 §2.2.1
  | "unsupported_token_type"
  // RFC 8628 §3.5
  | "authorization_pending"
  | "access_denied"
  | "expired_token";

/** An error of the token endpoint: a problem that also speaks OAuth (`error`, `error_description`). */
export function oauthError(
  code: ProblemCode,
  error: OAuthErrorCode,
  description: string,
  options: Omit<ApiErrorOptions, "detail"> = {},
): ApiError {
  return new ApiError(code, {
    ...options,
    detail: description,
    extensions: { ...options.extensions, error, error_description: description },
  });
}

/**
 * A dependency (database, cache, storage, queue) that could not be reached. Handlers let it
 * propagate; it becomes a 503 naming the dependency, never a 500.
 */
export class DependencyError extends Error {
  readonly dependency: string;

  constructor(dependency: string, cause: unknown) {
    super(`${dependency} is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "DependencyError";
    this.dependency = dependency;
  }
}
