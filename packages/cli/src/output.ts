/** Where a command writes: results to stdout, messages to stderr; JSON for scripts with `--json`. */
export interface Output {
  /** `--json` was given: print one JSON document per command on stdout, nothing else there. */
  readonly json: boolean;
  /** stdout is a terminal (progress bars, colours). */
  readonly interactive: boolean;
  /** The command's result: `value` as JSON with `--json`, else `human()`'s lines. */
  result(value: unknown, human: () => string): void;
  /** A message for the person (stderr), never part of the result. */
  note(message: string): void;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
}

export function createOutput(
  options: { json: boolean },
  streams = { stdout: process.stdout, stderr: process.stderr },
): Output {
  return {
    json: options.json,
    interactive: Boolean(streams.stdout.isTTY) && !options.json,
    result(value, human) {
      const text = options.json ? JSON.stringify(value, null, 2) : human();
      if (text !== "") streams.stdout.write(`${text}\n`);
    },
    note(message) {
      streams.stderr.write(`${message}\n`);
    },
    stdout: streams.stdout,
    stderr: streams.stderr,
  };
}

/** Rows as aligned columns under a header, for people. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return "";
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}
