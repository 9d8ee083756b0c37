import { encodeExtended } from "content-disposition";
import type { ByteRange } from "../pkg/storage/storage.ts";

// The conditional-request rules are shared with every resource that has validators; downloads
// keep importing them from here.
export {
  type ConditionalHeaders,
  type EntityTag,
  evaluatePreconditions,
  httpDate,
  ifRangeHolds,
  parseEntityTags,
  parseHttpDate,
  type Validators,
} from "../pkg/http/preconditions.ts";

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
 * A name fit to offer for saving (RFC 6266 §4.3: recipients must not trust it, senders should
 * not send what a file system or a reader misreads): `name` without control characters and
 * bidirectional controls; undefined when nothing is left but dots and white space (`.`, `..`,
 * ` `). Everything else stays, non-ASCII letters and spaces included. A lone surrogate stays too
 * (it becomes U+FFFD only when percent-encoded).
 */
export function safeDownloadName(name: string): string | undefined {
  const cleaned = name.replace(UNSAFE_IN_NAME, "");
  return /^[\s.]*$/.test(cleaned) ? undefined : cleaned;
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

/** File name extensions by stored type (a Map: no inherited keys answer). */
const EXTENSIONS: ReadonlyMap<string, string> = new Map([
  ["application/pdf", "pdf"],
  ["image/png", "png"],
  ["image/jpeg", "jpg"],
  ["image/gif", "gif"],
  ["image/webp", "webp"],
  ["text/plain", "txt"],
  ["text/markdown", "md"],
  ["text/html", "html"],
  ["text/csv", "csv"],
  ["application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"],
]);

/**
 * A file name for a download, made safe by `safeDownloadName`: the uploaded name, or else (none,
 * or nothing safe left of it) the title with an extension for its type, `download` standing in for
 * a title with nothing safe in it.
 */
export function downloadName(filename: string | null, title: string, contentType: string): string {
  const uploaded = filename === null ? undefined : safeDownloadName(filename);
  if (uploaded) return uploaded;
  const base = safeDownloadName(title.replace(/[/\\]/g, "_")) ?? "download";
  return `${base}.${EXTENSIONS.get(contentType) ?? "bin"}`;
}
