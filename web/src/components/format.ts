import prettyBytes from "pretty-bytes";

/** Bytes for people, in binary multiples: 1.5 KiB, 4.5 MiB. */
export const formatBytes = (bytes: number) => prettyBytes(bytes, { binary: true });

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** An ISO 8601 instant in the reader's locale and time zone. */
export const formatInstant = (iso: string) => dateTime.format(new Date(iso));
