import { DatabaseError, NeonDbError } from "@neondatabase/serverless";
import { DrizzleQueryError } from "drizzle-orm/errors";
import { DeadlineExceededError } from "../pkg/errors/deadline.ts";

/** SQLSTATE classes that mean "the server cannot serve us now", not "this statement is wrong". */
const UNAVAILABLE_CLASSES = ["08", "53", "57P"];

/**
 * Errors of JavaScript itself: a statement that fails with one of these never reached the server
 * because our code handed the driver something it cannot send (a bug, not an outage).
 */
const PROGRAMMING_ERRORS = [TypeError, RangeError, SyntaxError, ReferenceError];

/**
 * Postgres could not be reached, or the connection failed before a transaction could begin
 * (thrown by `asActor`, with the driver's error as `cause`). Nothing was changed.
 */
export class DatabaseUnreachableError extends Error {
  constructor(cause: unknown) {
    super("postgres could not be reached", { cause });
    this.name = "DatabaseUnreachableError";
  }
}

/** What both modes of the driver report of Postgres's ErrorResponse (PostgreSQL §55.8). */
export type ServerError = Pick<DatabaseError, "code" | "constraint" | "detail" | "message">;

/**
 * The server's own error, which carries the SQLSTATE as `code`: in the WebSocket mode the
 * driver's `DatabaseError`, thrown bare (while connecting) or wrapped in drizzle's
 * `DrizzleQueryError`; in the HTTP mode a `NeonDbError` with a `code` (the endpoint answered 400
 * with Postgres's error fields). A `NeonDbError` without `code` is no answer of the server (see
 * `isDatabaseUnavailable`).
 */
export function serverError(error: unknown): ServerError | undefined {
  const cause = error instanceof DrizzleQueryError ? error.cause : error;
  if (cause instanceof DatabaseError) return cause;
  if (cause instanceof NeonDbError && cause.code) return cause;
  return undefined;
}

/**
 * Whether `error` is the HTTP mode's failure to get an answer from Postgres: a `NeonDbError`
 * without a SQLSTATE, which the driver throws when the fetch to the endpoint fails (`sourceError`
 * holds the network error) or the endpoint answers with a status other than 200 or 400.
 */
export function isHttpTransportError(error: unknown): boolean {
  const cause = error instanceof DrizzleQueryError ? error.cause : error;
  return cause instanceof NeonDbError && !cause.code;
}

/**
 * Whether a database error means the database could not be reached or dropped us (answer 503, or
 * retry later) rather than a fault in the statement or our code (a 500, or a bug to fix). Decided
 * by type, never by message: the server's SQLSTATE class (PostgreSQL Appendix A: 08 connection
 * exception, 53 insufficient resources, 57P operator intervention); `DatabaseUnreachableError`; a
 * deadline; or a statement drizzle reports failed without any answer from the server (its cause
 * is the driver's transport failure: a lost socket's error, or the WebSocket's error event) unless
 * that cause is one of JavaScript's own error types; in the HTTP mode, a `NeonDbError` without
 * SQLSTATE (`isHttpTransportError`).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (isDatabaseDeadline(error)) return true;
  if (error instanceof DatabaseUnreachableError) return true;
  if (isHttpTransportError(error)) return true;
  const server = serverError(error);
  if (server) return UNAVAILABLE_CLASSES.some((prefix) => server.code?.startsWith(prefix));
  if (!(error instanceof DrizzleQueryError)) return false;
  const { cause } = error;
  return cause !== undefined && !PROGRAMMING_ERRORS.some((type) => cause instanceof type);
}

/**
 * Whether Postgres refused a value of the statement: SQLSTATE class 22, data exception (a NUL in
 * text, an impossible date, a number out of range, invalid input syntax), or 23514, a check
 * constraint (PostgreSQL Appendix A). From a client's value this is the client's mistake (400);
 * it can also be our own bug, which the 400 then hides (the handler logs it as a warning).
 */
export function isInvalidValue(error: unknown): boolean {
  const code = serverError(error)?.code;
  return code !== undefined && (code.startsWith("22") || code === "23514");
}

/**
 * Whether `error` is a connection or statement the client abandoned at its deadline
 * (`DatabaseConfig.timeoutMs`, src/db/client.ts): the server did not answer in time, so the
 * caller answers 503 or retries. Drizzle wraps a statement's error in `DrizzleQueryError`.
 */
export function isDatabaseDeadline(error: unknown): boolean {
  const cause = error instanceof DrizzleQueryError ? error.cause : error;
  return cause instanceof DeadlineExceededError && cause.dependency === "postgres";
}

/**
 * Whether `error` is a `commit` abandoned at its deadline: the server may have committed or may
 * yet commit (it had the request; a frozen server carries it out once it thaws), so the caller must
 * not undo what the transaction recorded as if it had failed.
 */
export function isUncertainCommit(error: unknown): boolean {
  const cause = error instanceof DrizzleQueryError ? error.cause : error;
  return isDatabaseDeadline(error) && cause instanceof DeadlineExceededError && cause.operation === "commit";
}

/** The constraint a unique violation (SQLSTATE 23505) broke, if that is what `error` is. */
export function uniqueViolation(error: unknown): string | undefined {
  const server = serverError(error);
  return server?.code === "23505" ? server.constraint : undefined;
}

/** Whether `error` is a foreign key violation (SQLSTATE 23503): the row referred to is gone. */
export function isForeignKeyViolation(error: unknown): boolean {
  return serverError(error)?.code === "23503";
}

/**
 * Whether `error` is the database refusing a write as not permitted: SQLSTATE 42501
 * (insufficient_privilege), which row-level security raises for a row its policy refuses and the
 * guard triggers of migration 0025 raise for a move, delete or archive by the wrong role.
 */
export function isInsufficientPrivilege(error: unknown): boolean {
  return serverError(error)?.code === "42501";
}

/**
 * Whether `error` is the deferred check of migration 0025 refusing a commit that would leave a live
 * project without an owner: SQLSTATE 23514 naming the constraint `project_members_owner`.
 */
export function isOwnerlessProject(error: unknown): boolean {
  const server = serverError(error);
  return server?.code === "23514" && server.constraint === "project_members_owner";
}

/**
 * Whether Postgres rolled the transaction back because it collided with a concurrent one: SQLSTATE
 * class 40, transaction rollback (40P01 deadlock detected, 40001 serialization failure; PostgreSQL
 * Appendix A). Nothing of it was written, and the same request can succeed when sent again.
 */
export function isTransactionConflict(error: unknown): boolean {
  const code = serverError(error)?.code;
  // 40003 (statement completion unknown) is no rollback we can vouch for.
  return (code?.startsWith("40") ?? false) && code !== "40003";
}
