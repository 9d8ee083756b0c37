// The command lines of the admin scripts (npm run backup, restore, release…): node:util's
// parseArgs, strict, with one usage line for every mistake instead of a stack trace.
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";

/** Raised by a script's own checks of its arguments: printed with the usage line, exit code 2. */
export class UsageError extends Error {}

const HELP = { help: { type: "boolean", short: "h" } } as const satisfies ParseArgsOptionsConfig;

/**
 * The `--name value` options of `process.argv` as `options` declares them, plus `--help` / `-h`.
 * An unknown or repeated option, a missing value or a positional argument prints what is wrong and
 * `usage` to stderr and exits 2 (the shell's "bad usage" code); `--help` prints `usage` and exits 0.
 * @returns parseArgs's `values`.
 */
export function scriptArgs<T extends ParseArgsOptionsConfig>(options: T, usage: string) {
  const config = { options: { ...options, ...HELP }, strict: true as const, tokens: true as const };
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    return badUsage(usage, error instanceof Error ? error.message : String(error));
  }
  // parseArgs keeps the last of a repeated option: `--env staging --env production` must not
  // quietly mean production.
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== "option") continue;
    if (seen.has(token.name)) badUsage(usage, `--${token.name} is given more than once`);
    seen.add(token.name);
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
  const number = decimal(value);
  if (number === undefined || number < min || number > max) {
    throw new UsageError(
      `--${name} must be a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? "" : ` to ${max}`}, not "${value ?? ""}"`,
    );
  }
  return number;
}

/** `text` as a whole number when it is written in decimal digits alone (no sign, 0x, exponent or space). */
export function decimal(text: string | undefined): number | undefined {
  return text !== undefined && /^[0-9]{1,15}$/.test(text) ? Number(text) : undefined;
}
