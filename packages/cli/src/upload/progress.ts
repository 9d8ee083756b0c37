import cliProgress from "cli-progress";
import prettyBytes from "pretty-bytes";

/** What the upload tells whoever shows its progress. Byte counts are bytes. */
export interface UploadProgress {
  /** A file starts: `totalBytes` to send. */
  start(label: string, totalBytes: number): void;
  /** `sentBytes` of the file have left so far (absolute, not a delta; it may go back on a retried part). */
  update(label: string, sentBytes: number): void;
  /** The file is done, or failed (`error`, a short reason). */
  finish(label: string, error?: string): void;
  /** Everything is done: remove the display. */
  stop(): void;
}

/** No display: for `--json` and when the output is not a terminal. */
export const silentProgress: UploadProgress = {
  start() {},
  update() {},
  finish() {},
  stop() {},
};

/** Longest file label shown in a bar, in characters; longer ones keep their end (the file name). */
const LABEL_WIDTH = 32;
const shortLabel = (label: string) =>
  label.length <= LABEL_WIDTH ? label.padEnd(LABEL_WIDTH) : `…${label.slice(-(LABEL_WIDTH - 1))}`;

/**
 * Bars on a terminal (cli-progress's MultiBar): one for all the files (bytes of the total), and one
 * per file in flight with its percentage, bytes and speed; a finished file's bar is replaced by a
 * line saying it is done or why it failed.
 * @param totalBytes the sum of every file's size, bytes.
 */
export function terminalProgress(stream: NodeJS.WriteStream, fileCount: number, totalBytes: number): UploadProgress {
  const multibar = new cliProgress.MultiBar(
    {
      stream,
      clearOnComplete: false,
      hideCursor: true,
      autopadding: true,
      format: "{label} {bar} {percentage}% | {value_h}/{total_h} | {speed}",
      formatValue: (value, options, type) =>
        type === "value" || type === "total"
          ? formatBytes(value)
          : cliProgress.Format.ValueFormat(value, options, type),
      // Not every 100 ms of a long upload: the display redraws at most 5 times a second.
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const startedAt = Date.now();
  const sent = new Map<string, number>();
  const bars = new Map<string, cliProgress.SingleBar>();
  let finished = 0;
  const overall = multibar.create(totalBytes, 0, {
    label: shortLabel(`all ${fileCount} file${fileCount === 1 ? "" : "s"}`),
    value_h: formatBytes(0),
    total_h: formatBytes(totalBytes),
    speed: "",
  });
  const refreshOverall = () => {
    const done = [...sent.values()].reduce((sum, bytes) => sum + bytes, 0);
    const seconds = Math.max((Date.now() - startedAt) / 1000, 0.001);
    overall.update(done, {
      value_h: formatBytes(done),
      speed: `${formatBytes(done / seconds)}/s · ${finished}/${fileCount} done`,
    });
  };
  return {
    start(label, total) {
      sent.set(label, 0);
      bars.set(
        label,
        multibar.create(total, 0, {
          label: shortLabel(label),
          value_h: formatBytes(0),
          total_h: formatBytes(total),
          speed: "",
        }),
      );
      refreshOverall();
    },
    update(label, sentBytes) {
      sent.set(label, sentBytes);
      bars.get(label)?.update(sentBytes, { value_h: formatBytes(sentBytes) });
      refreshOverall();
    },
    finish(label, error) {
      const bar = bars.get(label);
      if (bar) multibar.remove(bar);
      bars.delete(label);
      finished += 1;
      multibar.log(`${error ? "✗" : "✓"} ${label}${error ? `: ${error}` : ""}\n`);
      refreshOverall();
    },
    stop() {
      refreshOverall();
      // MultiBar.stop() draws the bars one last time but not the lines given to log() since the
      // last redraw: the files that finished last would go unreported.
      multibar.update();
      multibar.stop();
    },
  };
}

/** Bytes for people, in binary multiples: 1.5 KiB, 4.5 MiB. */
export const formatBytes = (bytes: number) => prettyBytes(bytes, { binary: true });
