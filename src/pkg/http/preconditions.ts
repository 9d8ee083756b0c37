// The conditional requests of RFC 9110 §13: entity tags, HTTP dates and the evaluation order of
// §13.2.2, for reads (downloads: 304 and 412) and for writes (lost-update protection: 412).
// Generic: knows headers and validators, no resource.
import { sha256, toHex } from "../crypto/digest.ts";

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

/**
 * The validators of a resource that a write may change: a strong entity tag and, when the
 * resource records one, its modification date.
 */
export interface WriteValidators {
  /** As sent in `ETag`; strong, since If-Match compares strongly (RFC 9110 §13.1.1). */
  etag: string;
  /** Absent when the resource keeps no modification date: If-Unmodified-Since is then ignored. */
  lastModified?: Date | undefined;
}

/**
 * Whether a state-changing request (POST, PUT, PATCH, DELETE) may be performed, by RFC 9110
 * §13.2.2 against the target's current validators: If-Match (strong comparison; `*` holds for
 * any current representation, so a weak tag never matches), else If-Unmodified-Since (ignored
 * when invalid or when the resource has no modification date, §13.1.4); then If-None-Match (weak
 * comparison; a match fails, because only GET and HEAD answer 304). If-Modified-Since concerns
 * GET and HEAD only and is ignored. `false`: the method must not be performed, answer 412
 * (§13.1.1). The caller evaluates this while holding the target so that it cannot change before
 * the write. Never throws.
 */
export function writePreconditionsHold(headers: ConditionalHeaders, current: WriteValidators): boolean {
  const { lastModified } = current;
  const outcome = evaluatePreconditions(
    {
      ifMatch: headers.ifMatch,
      ifNoneMatch: headers.ifNoneMatch,
      ifUnmodifiedSince: lastModified ? headers.ifUnmodifiedSince : undefined,
    },
    // Without a modification date, If-Unmodified-Since was dropped above: the date is never read.
    { etag: current.etag, lastModified: lastModified ?? new Date(0) },
  );
  return outcome === "proceed";
}

/**
 * A strong entity tag (RFC 9110 §8.8.3) for a JSON representation: the first 128 bits of the
 * SHA-256 of `JSON.stringify(value)`, hex, quoted. It is strong because the response body is that
 * very serialization: equal tags mean equal bytes, and every change to what is served changes it.
 */
export async function jsonEntityTag(value: unknown): Promise<string> {
  return `"${toHex((await sha256(JSON.stringify(value))).subarray(0, 16))}"`;
}
