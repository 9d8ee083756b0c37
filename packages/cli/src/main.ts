import { ProblemError } from "@techcorp/sdk";
import { Command, CommanderError, Option } from "commander";
import { registerAccountCommands } from "./commands/account.ts";
import { EXIT_CODE } from "./commands/action.ts";
import { registerDocumentCommands } from "./commands/documents.ts";
import { registerNotificationCommands } from "./commands/notifications.ts";
import { registerUploadCommand } from "./commands/upload.ts";
import { EXIT, type ExitCode } from "./exit-codes.ts";
import { NotSignedInError } from "./session.ts";
import { MissingInputError } from "./upload/files.ts";

/** The options every command takes (commander's `optsWithGlobals()`). */
export interface GlobalOptions {
  json: boolean;
  apiUrl?: string;
}

/** The `techcorp` program: its commands, global options and help. */
export function buildProgram(): Command {
  const program = new Command("techcorp")
    .description("The TechCorp Platform from a terminal: sign in, upload, list, search, download and share documents.")
    .addOption(new Option("--json", "print results as JSON on stdout, for scripts").default(false))
    .addOption(
      new Option(
        "--api-url <url>",
        "the API's address (default: where you logged in, else https://api.techcorp.example)",
      ).env("TECHCORP_API_URL"),
    )
    .showHelpAfterError("(add --help for usage)")
    .exitOverride();
  registerAccountCommands(program);
  registerUploadCommand(program);
  registerDocumentCommands(program);
  registerNotificationCommands(program);
  program.addHelpText(
    "after",
    `
Exit codes: 0 done, 1 refused or failed by the API (or some files of an upload failed), 4 not found,
64 wrong usage, 66 a local file or folder missing, 69 the API unreachable or unavailable,
77 not signed in (run \`techcorp login\`), 130 interrupted.
Credentials are kept in your user config directory (TECHCORP_CONFIG_DIR overrides), readable by you only.`,
  );
  return program;
}

/**
 * Runs the CLI with `argv` (as `process.argv`: node, script, then arguments) and returns the exit
 * code; errors are printed on stderr (as JSON there too with `--json`), never thrown.
 */
export async function run(argv: readonly string[]): Promise<ExitCode> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
    return ((program as Command & { [EXIT_CODE]?: ExitCode })[EXIT_CODE] ?? EXIT.ok) as ExitCode;
  } catch (error) {
    return reportError(error, argv.includes("--json"));
  }
}

function reportError(error: unknown, json: boolean): ExitCode {
  if (error instanceof CommanderError) {
    // --help and --version end the program through the same path, successfully.
    if (error.exitCode === 0) return EXIT.ok;
    return EXIT.usage;
  }
  const { code, message, details } = describe(error);
  if (json) process.stderr.write(`${JSON.stringify({ error: { message, ...details } })}\n`);
  else process.stderr.write(`techcorp: ${message}\n`);
  return code;
}

function describe(error: unknown): { code: ExitCode; message: string; details?: Record<string, unknown> } {
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
