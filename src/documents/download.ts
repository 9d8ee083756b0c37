import { encodeExtended } from "content-disposition";
import type { ByteRange } from "../pkg/storage/storage.ts";

/**
 * The single byte range of a `Range` header (RFC 9110 §14.1.2): `bytes=0-99`, `bytes=100-`, or a
 * suffix `bytes=-500` (needs the size). The unit is case-insensitive and empty list elements are
 * skipped (§5.6.1). Several ranges, another unit, or anything malformed mean the whole
 * representation, which §14.2 allows. Never throws.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | "unsatisfiable" | undefined {
  const match = /^bytes[ \t]*=[ \t]*(.*)$/i.exec(header?.trim() ?? "");
  if (!match) return undefined;
  const specs = (match[1] ?? "")
    .split(",")
    .map((spec) => spec.trim())
    .filter((spec) => spec !== "");
  if (specs.length !== 1) return undefined;
  const spec = /^(\d*)-(\d*)$/.exec(specs[0] ?? "");
  if (!spec) return undefined;
  const [, first = "", last = ""] = spec;
  if (first === "" && last === "") return undefined;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}

/** An entity tag (RFC 9110 §8.8.3): its opaque part with the quotes, and whether it is weak. */
export interface EntityTag {
  weak: boolean;
  /** The opaque tag including its double quotes, e.g. `"abc"`. */
  opaque: string;
}

/**
 * The members of an `If-Match` / `If-None-Match` value: `*`, or a list of entity tags
 * (`"a", W/"b"`). Members that are not entity tags are skipped (a tag may itself contain a comma,
 * so the list is scanned, not split). Never throws.
 */
export function parseEntityTags(value: string): "*" | EntityTag[] {
  if (value.trim() === "*") return "*";
  const tags: EntityTag[] = [];
  const member = /\s*(W\/)?("[^"]*")\s*(?:,|$)|[^,]*(?:,|$)/gy;
  for (let match = member.exec(value); match && match[0] !== ""; match = member.exec(value)) {
    if (match[2] !== undefined && /^"[\x21\x23-\x7e\x80-\xff]*"$/.test(match[2])) {
      tags.push({ weak: match[1] !== undefined, opaque: match[2] });
    }
  }
  return tags;
}

/** The strong comparison (RFC 9110 §8.8.3.2): both strong and the same. */
function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque;
}

/** The weak comparison: the same opaque tag, either or both may be weak. */
function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const LONG_DAY = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)";
const MONTH = `(${MONTHS.join("|")})`;
const TIME = "(\\d\\d):(\\d\\d):(\\d\\d)";
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d\\d) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^${LONG_DAY}, (\\d\\d)-${MONTH}-(\\d\\d) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/**
 * An HTTP-date (RFC 9110 §5.6.7) in any of its three forms: IMF-fixdate
 * (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`,
 * a two-digit year more than 50 years ahead meaning the previous century) and asctime
 * (`Sun Nov  6 08:49:37 1994`). Anything else, including impossible dates, is undefined, which
 * the conditional headers treat as absent. Milliseconds since the epoch.
 */
export function parseHttpDate(value: string): number | undefined {
  const text = value.trim();
  let parts: [day: string, month: string, year: number, hour: string, minute: string, second: string] | undefined;
  const imf = IMF_FIXDATE.exec(text);
  const rfc850 = RFC850_DATE.exec(text);
  const asctime = ASCTIME_DATE.exec(text);
  if (imf) {
    const [, day = "", month = "", year = "", hour = "", minute = "", second = ""] = imf;
    parts = [day, month, Number(year), hour, minute, second];
  } else if (rfc850) {
    const [, day = "", month = "", year = "", hour = "", minute = "", second = ""] = rfc850;
    const thisYear = new Date().getUTCFullYear();
    let full = Math.floor(thisYear / 100) * 100 + Number(year);
    if (full > thisYear + 50) full -= 100;
    parts = [day, month, full, hour, minute, second];
  } else if (asctime) {
    const [, month = "", day = "", hour = "", minute = "", second = "", year = ""] = asctime;
    parts = [day.trim(), month, Number(year), hour, minute, second];
  }
  if (!parts) return undefined;
  const [day, month, year, hour, minute, second] = parts;
  const monthIndex = MONTHS.indexOf(month);
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, takes years below 100 as they are.
  date.setUTCFullYear(year, monthIndex, Number(day));
  date.setUTCHours(Number(hour), Number(minute), Number(second), 0);
  // Out-of-range fields roll over (31 Feb into March, 24:00 into the next day): refuse those.
  if (
    date.getUTCFullYear() !== year ||
    date.getUTCDate() !== Number(day) ||
    date.getUTCMonth() !== monthIndex ||
    date.getUTCHours() !== Number(hour) ||
    date.getUTCMinutes() !== Number(minute) ||
    date.getUTCSeconds() !== Number(second)
  ) {
    return undefined;
  }
  return date.getTime();
}

/** What identifies the selected representation: its entity tag and its modification date. */
export interface Validators {
  /** As sent in `ETag`, e.g. `"abc"` or `W/"abc"`. */
  etag: string;
  lastModified: Date;
}

/** The conditional request headers of RFC 9110 §13.1, as received (absent: undefined). */
export interface ConditionalHeaders {
  ifMatch?: string | undefined;
  ifNoneMatch?: string | undefined;
  ifModifiedSince?: string | undefined;
  ifUnmodifiedSince?: string | undefined;
}

/** HTTP dates have one-second resolution: a modification time compares by its whole second. */
const seconds = (date: Date | number) => Math.floor((typeof date === "number" ? date : date.getTime()) / 1000);

/** `Last-Modified` as an IMF-fixdate (RFC 9110 §8.8.2). */
export function httpDate(date: Date): string {
  return new Date(seconds(date) * 1000).toUTCString();
}

/**
 * Evaluates the preconditions of a GET or HEAD in the order of RFC 9110 §13.2.2: If-Match (strong
 * comparison; `*` holds for any current representation), else If-Unmodified-Since; then
 * If-None-Match (weak comparison; `*` matches), else If-Modified-Since. An invalid date is
 * ignored (§13.1.3, §13.1.4). `failed` is a 412, `not_modified` a 304; `proceed` means the
 * request goes on (If-Range is `ifRangeHolds`' business). Never throws.
 */
export function evaluatePreconditions(
  headers: ConditionalHeaders,
  validators: Validators,
): "proceed" | "not_modified" | "failed" {
  const [current] = parseEntityTagsOrEmpty(validators.etag);
  if (headers.ifMatch !== undefined) {
    const wanted = parseEntityTags(headers.ifMatch);
    if (wanted !== "*" && !(current && wanted.some((tag) => strongMatch(tag, current)))) return "failed";
  } else if (headers.ifUnmodifiedSince !== undefined) {
    const date = parseHttpDate(headers.ifUnmodifiedSince);
    if (date !== undefined && seconds(validators.lastModified) > seconds(date)) return "failed";
  }
  if (headers.ifNoneMatch !== undefined) {
    const unwanted = parseEntityTags(headers.ifNoneMatch);
    if (unwanted === "*" || (current && unwanted.some((tag) => weakMatch(tag, current)))) return "not_modified";
  } else if (headers.ifModifiedSince !== undefined) {
    const date = parseHttpDate(headers.ifModifiedSince);
    if (date !== undefined && seconds(validators.lastModified) <= seconds(date)) return "not_modified";
  }
  return "proceed";
}

function parseEntityTagsOrEmpty(value: string): EntityTag[] {
  const tags = parseEntityTags(value);
  return tags === "*" ? [] : tags;
}

/**
 * Whether an `If-Range` lets a `Range` apply (RFC 9110 §13.1.5): an entity tag must match the
 * current one by the strong comparison (a weak tag never does); a date must equal
 * `Last-Modified` exactly, and counts only when `dateIsStrong` (the representation cannot have
 * changed twice within that second, §8.8.2.2). Absent: true. Anything else: false, so the whole
 * representation is sent. Never throws.
 */
export function ifRangeHolds(header: string | undefined, validators: Validators, dateIsStrong: boolean): boolean {
  if (header === undefined) return true;
  const value = header.trim();
  if (value.startsWith('"') || value.startsWith("W/")) {
    const tags = parseEntityTagsOrEmpty(value);
    const [current] = parseEntityTagsOrEmpty(validators.etag);
    return tags.length === 1 && current !== undefined && tags[0] !== undefined && strongMatch(tags[0], current);
  }
  const date = parseHttpDate(value);
  return dateIsStrong && date !== undefined && seconds(date) === seconds(validators.lastModified);
}

const INLINE_SAFE = new Set(["application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain"]);

/**
 * Characters a download name never carries: control characters (`Cc`: C0 U+0000–U+001F, DEL
 * U+007F, C1 U+0080–U+009F; a CR or LF would also end the header line) and the bidirectional
 * controls of Unicode UAX #9 §2 (`Bidi_Control`: ALM U+061C, LRM and RLM U+200E/F, the embeddings
 * and overrides U+202A–U+202E, the isolates U+2066–U+2069), with which U+202E `txt.exe` shows as
 * `exe.txt`.
 */
const UNSAFE_IN_NAME = /[\p{Cc}\p{Bidi_Control}]/gu;

/**
 * A name fit to offer for saving (RFC 6266 §4.3: recipients must not trust it, senders should not
 * send what a file system or a reader misreads): `name` without control and bidirectional
 * formatting characters, trimmed; undefined when nothing is left, or only dots (`.`, `..`).
 * Everything else stays, non-ASCII letters included. A lone surrogate stays too (it becomes
 * U+FFFD only when percent-encoded).
 */
export function safeDownloadName(name: string): string | undefined {
  const cleaned = name.replace(UNSAFE_IN_NAME, "").trim();
  return /^\.*$/.test(cleaned) ? undefined : cleaned;
}

/**
 * Content-Disposition (RFC 6266 §4) for `filename` made safe by `safeDownloadName` (`download`
 * when nothing is left), sent twice: as an ASCII fallback `filename` (a quoted-string without
 * quotes, backslashes, `%HH` or anything outside printable ASCII) and exactly as `filename*`
 * (RFC 8187 §3.2.1: UTF-8, every octet outside attr-char percent-encoded). HTML and anything not
 * known to be safe are always downloaded, never rendered in our origin.
 */
export function contentDisposition(filename: string, contentType: string, wanted: "attachment" | "inline"): string {
  const type = wanted === "inline" && INLINE_SAFE.has(contentType) ? "inline" : "attachment";
  const name = safeDownloadName(filename) ?? "download";
  // RFC 6266 Appendix D: no "%HH" in `filename`, which some user agents would decode.
  const ascii = name
    .replace(/[^\x20-\x7e]/g, "_")
    .replace(/["\\]/g, "_")
    .replace(/%(?=[0-9A-Fa-f]{2})/g, "_");
  // A lone surrogate cannot be percent-encoded as UTF-8 (encodeURIComponent would throw).
  return `${type}; filename="${ascii}"; filename*=${encodeExtended(name.toWellFormed())}`;
}

/**
 * `body` as a stream of exactly `length` bytes, which the runtime sends with `Content-Length`
 * (workerd's FixedLengthStream): a Response whose body is a plain ReadableStream goes out chunked
 * (RFC 9112 §7.1), whatever Content-Length header it was given, and a client then cannot show
 * progress or know that it has it all. A body that ends short (or runs long) errors the response.
 */
export function withLength(body: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  const fixed = new FixedLengthStream(length);
  // A failure shows on the readable side (the response breaks off); the source is cancelled.
  body.pipeTo(fixed.writable).catch(() => {});
  return fixed.readable;
}

/**
 * The Content-Type to serve a stored type with: text is stored only when it is UTF-8 (see
 * `checkContentType`), and says so, since a text type without `charset` leaves the reader to
 * guess (RFC 7763 §2 makes it required for Markdown; RFC 2046 §4.1.2 defaults text/* to ASCII).
 */
export function servedContentType(storedType: string): string {
  return storedType.startsWith("text/") ? `${storedType}; charset=utf-8` : storedType;
}

/**
 * A file name for a download, made safe by `safeDownloadName`: the uploaded name, or else (none,
 * or nothing safe left of it) the title with an extension for its type, `download` standing in for
 * a title with nothing safe in it.
 */
export function downloadName(filename: string | null, title: string, contentType: string): string {
  const uploaded = filename === null ? undefined : safeDownloadName(filename);
  if (uploaded) return uploaded;
  const extension: Record<string, string> = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "text/plain": "txt",
    "text/markdown": "md",
    "text/html": "html",
    "text/csv": "csv",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
  };
  const base = safeDownloadName(title.replace(/[/\\]/g, "_")) ?? "download";
  return `${base}.${extension[contentType] ?? "bin"}`;
}
