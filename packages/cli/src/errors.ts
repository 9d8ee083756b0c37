import { ProblemError } from "@techcorp/sdk";
import { EXIT, type ExitCode } from "./exit-codes.ts";
import { NotSignedInError } from "./session.ts";
import { MissingInputError } from "./upload/files.ts";

/** An error the CLI found itself, with the exit code it ends with (e.g. 64 for wrong usage). */
export class CliError extends Error {
  readonly exitCode: ExitCode;

  constructor(message: string, exitCode: ExitCode) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** Wrong usage found by a command itself (commander's own usage errors end the same way): exit 64. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
    this.name = "UsageError";
  }
}

/** What an error means for the person (message), for scripts (details) and for the exit code. */
export function describeError(error: unknown): {
  code: ExitCode;
  message: string;
  details?: Record<string, unknown>;
} {
  if (error instanceof CliError) return { code: error.exitCode, message: error.message };
  if (error instanceof NotSignedInError) return { code: EXIT.noPermission, message: error.message };
  if (error instanceof MissingInputError) return { code: EXIT.noInput, message: error.message };
  if (error instanceof ProblemError) {
    const details = { status: error.status, code: error.code, requestId: error.requestId };
    const message = `${error.detail ?? error.title} (${error.status} ${error.code}, request ${error.requestId})`;
    if (error.status === 401)
      return { code: EXIT.noPermission, message: `${message}: run \`techcorp login\``, details };
    if (error.status === 404) return { code: EXIT.notFound, message, details };
    if (error.status >= 500) return { code: EXIT.unavailable, message, details };
    return { code: EXIT.failure, message, details };
  }
  if (error instanceof TypeError && /fetch failed/i.test(error.message)) {
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    return { code: EXIT.unavailable, message: `cannot reach the API${cause ? `: ${cause}` : ""}` };
  }
  if (error instanceof Error && error.name === "AbortError") return { code: EXIT.interrupted, message: "interrupted" };
  return { code: EXIT.failure, message: error instanceof Error ? error.message : String(error) };
}

/** One item's failure, as `--json` prints it beside the items that went well (`upload`, `rm`). */
export interface Failure {
  message: string;
  status?: number;
  code?: string;
  requestId?: string;
}

export function failureOf(error: unknown): Failure {
  if (error instanceof ProblemError) {
    return {
      message: error.detail ?? error.title,
      status: error.status,
      ...(error.code ? { code: error.code } : {}),
      ...(error.requestId ? { requestId: error.requestId } : {}),
    };
  }
  return { message: error instanceof Error ? error.message : String(error) };
}
