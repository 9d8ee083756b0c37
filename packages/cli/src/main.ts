import { readFileSync } from "node:fs";
import { Command, CommanderError, Help, Option } from "commander";
import { registerAccountCommands } from "./commands/account.ts";
import { EXIT_CODE } from "./commands/action.ts";
import { registerDocumentCommands } from "./commands/documents.ts";
import { registerNotificationCommands } from "./commands/notifications.ts";
import { registerUploadCommand } from "./commands/upload.ts";
import { describeError } from "./errors.ts";
import { EXIT, type ExitCode } from "./exit-codes.ts";
import { httpUrl } from "./options.ts";

/** The options every command takes (commander's `optsWithGlobals()`). */
export interface GlobalOptions {
  json: boolean;
  apiUrl?: string;
}

/** The CLI's version, from its package.json. */
export const VERSION = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/**
 * `--version` (`-V`), as the program's first argument. Not commander's `.version()`: commander
 * would take a program option anywhere on the line, and `get --version <n>` is the document's.
 */
const VERSION_OPTION = new Option("-V, --version", "print the version and exit");

/** The `techcorp` program: its commands, global options and help. */
export function buildProgram(): Command {
  const program = new Command("techcorp")
    .description("The TechCorp Platform from a terminal: sign in, upload, list, search, download and share documents.")
    .addOption(new Option("--json", "print results as JSON on stdout, for scripts").default(false))
    .addOption(
      new Option(
        "--api-url <url>",
        "the API's address (default: where you logged in, else https://api.techcorp.example)",
      )
        .env("TECHCORP_API_URL")
        .argParser(httpUrl),
    )
    .configureHelp({
      // commander lists only the options it parses: --version is read by `run` (see VERSION_OPTION).
      visibleOptions(command) {
        const options = Help.prototype.visibleOptions.call(this, command);
        return command.parent ? options : [VERSION_OPTION, ...options];
      },
    })
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
73 a file \`get\` would replace (add --force), 77 not signed in (run \`techcorp login\`), 130 interrupted.
\`rm\` tries every id and exits with its first failure's code.
Credentials are kept in your user config directory (TECHCORP_CONFIG_DIR overrides), readable by you only.`,
  );
  return program;
}

/**
 * Runs the CLI with `argv` (as `process.argv`: node, script, then arguments) and returns the exit
 * code; errors are printed on stderr (as JSON there too with `--json`), never thrown.
 */
export async function run(argv: readonly string[]): Promise<ExitCode> {
  const first = argv[2];
  if (first === "--version" || first === "-V") {
    process.stdout.write(`${VERSION}\n`);
    return EXIT.ok;
  }
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
    // --help ends the program through the same path, successfully; everything else, `techcorp`
    // alone (help on stderr) included, is wrong usage.
    if (error.exitCode === 0) return EXIT.ok;
    return EXIT.usage;
  }
  const { code, message, details } = describeError(error);
  if (json) process.stderr.write(`${JSON.stringify({ error: { message, ...details } })}\n`);
  else process.stderr.write(`techcorp: ${message}\n`);
  return code;
}
