/** One sample line of an exposition: its name, labels (unescaped) and value. */
export interface ExposedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * The samples of a Prometheus text (0.0.4) or OpenMetrics exposition, comments skipped. A line that
 * is neither a comment nor a well-formed sample throws, so a malformed exposition fails the test.
 */
export function parseExposition(text: string): ExposedSample[] {
  return text
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const match = SAMPLE.exec(line);
      if (!match) throw new Error(`not a sample line: ${line}`);
      const [, name = "", labelText = "", value = ""] = match;
      const labels: Record<string, string> = {};
      for (const [, label = "", escaped = ""] of labelText.matchAll(LABEL)) {
        labels[label] = escaped.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      }
      return { name, labels, value: value === "+Inf" ? Number.POSITIVE_INFINITY : Number(value) };
    });
}

/** The value of the one sample named `name` whose labels include `labels`, or undefined. */
export function sampleOf(
  samples: ExposedSample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.find(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  )?.value;
}
