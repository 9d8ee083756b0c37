import { DrizzleQueryError } from "drizzle-orm/errors";
import { DeadlineExceededError } from "../pkg/errors/deadline.ts";

/** SQLSTATE classes that mean "the server cannot serve us now", not "this statement is wrong". */
const UNAVAILABLE_CLASSES = ["08", "53", "57P"];

const CONNECTION_MESSAGE = /connect|connection|terminated|timeout|timed out|websocket|network|socket|ECONNREFUSED/i;

/**
 * Whether a database error means the database could not be reached or dropped us (answer 503, or
 * retry later) rather than a fault in the statement or our code (a 500, or a bug to fix).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (isDatabaseDeadline(error)) return true;
  const cause = error instanceof DrizzleQueryError ? error.cause : error;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) {
    return UNAVAILABLE_CLASSES.some((prefix) => code.startsWith(prefix));
  }
  // The driver reports a failed WebSocket as the raw event, not an Error.
  if (cause && typeof cause === "object" && !(cause instanceof Error)) return true;
  return cause instanceof Error && CONNECTION_MESSAGE.test(cause.message);
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

/** The constraint a unique violation (SQLSTATE 23505) broke, if that is what `error` is. */
export function uniqueViolation(error: unknown): string | undefined {
  const cause = (error instanceof DrizzleQueryError ? error.cause : error) as { code?: unknown; constraint?: unknown };
  return cause?.code === "23505" && typeof cause.constraint === "string" ? cause.constraint : undefined;
}

/** Whether `error` is a foreign key violation (SQLSTATE 23503): the row referred to is gone. */
export function isForeignKeyViolation(error: unknown): boolean {
  const cause = (error instanceof DrizzleQueryError ? error.cause : error) as { code?: unknown } | undefined;
  return cause?.code === "23503";
}
