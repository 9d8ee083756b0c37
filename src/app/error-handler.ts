import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ZodError } from "zod";
import {
  isDatabaseUnavailable,
  isInsufficientPrivilege,
  isInvalidValue,
  isOwnerlessProject,
  isTransactionConflict,
  isUncertainCommit,
  serverError,
} from "../db/errors.ts";
import { fallbackLogger } from "../gateway/request-log.ts";
import { ConfigError } from "../pkg/config/config.ts";
import { ApiError, DependencyError, type FieldError, PROBLEMS, type ProblemCode } from "../pkg/errors/api-error.ts";
import { PROBLEM_CONTENT_TYPE, problemBody } from "../pkg/errors/problem.ts";
import { RequestBodyError } from "../pkg/errors/request-body.ts";
import { ownerRequired } from "../projects/rules.ts";

/**
 * The generic problem of each status, for errors that come with a status only (Hono's malformed
 * JSON, unsupported media type, body limit): the first code listed for the status, so a malformed
 * body is `bad_request`, never a later, specific code of the same status such as `invalid_grant`.
 */
const CODE_BY_STATUS = new Map<number, ProblemCode>();
for (const [code, problem] of Object.entries(PROBLEMS)) {
  if (code === "validation_failed" || code === "config_invalid" || CODE_BY_STATUS.has(problem.status)) continue;
  CODE_BY_STATUS.set(problem.status, code as ProblemCode);
}

function respond(
  c: Context,
  code: ProblemCode,
  options: {
    detail?: string;
    errors?: FieldError[];
    headers?: Record<string, string>;
    extensions?: Record<string, unknown>;
  } = {},
) {
  const body = problemBody({
    code,
    detail: options.detail,
    errors: options.errors,
    extensions: options.extensions,
    instance: c.req.path,
    requestId: c.get("requestId") ?? "unknown",
  });
  // Through the context, so headers set earlier (X-Request-ID) are kept.
  return c.body(JSON.stringify(body), body.status as ContentfulStatusCode, {
    ...options.headers,
    "content-type": PROBLEM_CONTENT_TYPE,
  });
}

const logger = (c: Context) => c.get("logger") ?? fallbackLogger.with({ requestId: c.get("requestId") });

/** The single place errors become `application/problem+json`. Nothing leaks a stack trace. */
export const onError: ErrorHandler = (error, c) => {
  if (error instanceof ApiError) {
    return respond(c, error.code, {
      detail: error.detail,
      errors: error.errors,
      headers: error.headers,
      extensions: error.extensions,
    });
  }
  // Classified by type, never by words in a message (a variable named …_TIMEOUT_… is no outage).
  if (error instanceof ConfigError) {
    logger(c).error("configuration invalid", { problems: error.problems });
    return respond(c, "config_invalid", { detail: `Invalid configuration: ${error.problems.join("; ")}` });
  }
  const dependency =
    error instanceof DependencyError ? error.dependency : isDatabaseUnavailable(error) ? "postgres" : undefined;
  if (dependency) {
    logger(c).warn("dependency unavailable", { dependency, error });
    // A commit abandoned at its deadline may still take effect: saying nothing changed would
    // invite a retry that does the change twice.
    const detail = isUncertainCommit(error)
      ? `${dependency} did not confirm the change in time; it may or may not have been made. Check before retrying.`
      : `${dependency} is unavailable; nothing was changed. Retry later.`;
    return respond(c, "service_unavailable", { detail, headers: { "Retry-After": "5" } });
  }
  if (error instanceof RequestBodyError) {
    // The client went away (or its connection broke) mid-body: its failure, not ours.
    logger(c).warn("the request body broke off", { error });
    return respond(c, "bad_request", { detail: "The request body ended before it was complete." });
  }
  if (isTransactionConflict(error)) {
    // A deadlock or serialization failure: Postgres rolled the whole transaction back.
    logger(c).warn("transaction rolled back by a concurrent one", { sqlState: serverError(error)?.code, error });
    return respond(c, "service_unavailable", {
      detail: "The change collided with a concurrent one and was rolled back; nothing was changed. Retry.",
      headers: { "Retry-After": "1" },
    });
  }
  if (isOwnerlessProject(error)) {
    // The deferred check of migration 0025 at commit: a race the route's own check could not see
    // (two owners leaving at once), or a user deleted while the last owner of a project.
    const refusal = ownerRequired();
    return respond(c, refusal.code, { detail: refusal.detail });
  }
  if (isInsufficientPrivilege(error)) {
    // Row-level security or a guard trigger refused a write the route let through: the caller's
    // role changed between the route's check and the write. Theirs to retry, not our fault.
    logger(c).warn("postgres refused a write as not permitted", { error });
    return respond(c, "forbidden", { detail: "Your role does not allow this change (it may have just changed)." });
  }
  if (isInvalidValue(error)) {
    // A second lock behind the route schemas (src/routes/fields.ts): a value Postgres refused
    // (SQLSTATE class 22 or 23514) is the client's, so a 400 without the database's words. It may
    // also be our own bug, which is why it is logged.
    logger(c).warn("postgres refused a value of the request", { sqlState: serverError(error)?.code, error });
    return respond(c, "bad_request", {
      detail: "A value in the request is not one the database can store or compare; check the values sent.",
    });
  }
  if (error instanceof HTTPException && error.status < 500) {
    // Raised by Hono and its validators (malformed JSON, unsupported media type, body limit).
    return respond(c, CODE_BY_STATUS.get(error.status) ?? "bad_request", { detail: error.message || undefined });
  }
  logger(c).error("unhandled error", { error });
  return respond(c, "internal_error");
};

export const notFound: NotFoundHandler = (c) =>
  respond(c, "not_found", { detail: `No route for ${c.req.method} ${c.req.path}.` });

/**
 * 405 `method_not_allowed` problem whose `Allow` header lists `methods`, the methods the target
 * resource serves (RFC 9110 §15.5.6 requires the header on a 405; its syntax is §10.2.1).
 */
export function methodNotAllowedResponse(c: Context, methods: string[]): Response {
  return respond(c, "method_not_allowed", {
    detail: `${c.req.method} is not allowed on ${c.req.path}; use ${methods.join(", ")}.`,
    headers: { Allow: methods.join(", ") },
  });
}

const LOCATION: Record<string, string> = {
  json: "body",
  form: "body",
  query: "query",
  param: "path",
  header: "header",
  cookie: "cookie",
};

function pointer(path: readonly PropertyKey[]): string {
  return `/${path.map((part) => String(part).replaceAll("~", "~0").replaceAll("/", "~1")).join("/")}`;
}

/** Turns a zod failure into field errors: where, which field (JSON pointer), and what is wrong. */
export function fieldErrors(error: ZodError, target: string): FieldError[] {
  return error.issues.map((issue) => ({
    in: LOCATION[target] ?? target,
    pointer: pointer(issue.path),
    message: issue.message,
  }));
}

/** The validation hook every router shares (see createRouter): one error format for all input. */
export function validationHook(result: { success: true } | { success: false; error: ZodError; target: string }): void {
  if (result.success) return;
  const errors = fieldErrors(result.error, result.target);
  throw new ApiError("validation_failed", {
    detail: errors.map((e) => `${e.in} ${e.pointer}: ${e.message}`).join("; "),
    errors,
  });
}
