// The command lines of the admin scripts (npm run backup, restore, release…): node:util's
// parseArgs, strict, with one usage line for every mistake instead of a stack trace.
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";

/** Raised by a script's own checks of its arguments: printed with the usage line, exit code 2. */
export class UsageError extends Error {}

const HELP = { help: { type: "boolean", short: "h" } } as const satisfies ParseArgsOptionsConfig;

/**
 * The `--name value` options of `process.argv` as `options` declares them, plus `--help` / `-h`.
 * An unknown option, a missing value or a positional argument prints what is wrong and `usage` to
 * stderr and exits 2 (the shell's "bad usage" code); `--help` prints `usage` and exits 0.
 * @returns parseArgs's `values`.
 */
export function scriptArgs<T extends ParseArgsOptionsConfig>(options: T, usage: string) {
  const config = { options: { ...options, ...HELP }, strict: true as const };
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    return badUsage(usage, error instanceof Error ? error.message : String(error));
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    process.exit(0);
  }
  return parsed.values;
}

/**
 * `parse()`, where a UsageError it throws is bad usage: the problem and `usage` printed, exit 2.
 * @throws any other error `parse` throws.
 */
export function orUsage<T>(usage: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof UsageError) badUsage(usage, error.message);
    throw error;
  }
}

/** Prints `problem` and `usage` to stderr and exits 2. */
export function badUsage(usage: string, problem?: string): never {
  console.error(problem ? `${problem}\n${usage}` : usage);
  process.exit(2);
}

/**
 * A whole number option within [min, max]: `value` as a number.
 * @throws UsageError naming the option when it is not one.
 */
export function integerOption(name: string, value: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER) {
  const number = Number(value);
  if (value === undefined || value.trim() === "" || !Number.isInteger(number) || number < min || number > max) {
    throw new UsageError(
      `--${name} must be a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? "" : ` to ${max}`}, not "${value ?? ""}"`,
    );
  }
  return number;
}
