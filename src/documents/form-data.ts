import { parse as parseDisposition } from "content-disposition";
import { parse as parseMediaType } from "content-type";
import { type ByteSource, byteSource, chunkSource } from "../pkg/storage/storage.ts";

/**
 * A streaming reader for `multipart/form-data` (RFC 7578) following the multipart grammar of
 * RFC 2046 §5.1.1: fields are read into strings, and a file part is handed over as a stream that
 * is read straight off the request body, so a file of any size never sits in memory. Parts come in
 * order; a part's body must be consumed (or cancelled) before asking for the next part. The body is
 * read `READ_BYTES` at a time (workerd hands a request body over in 4 KiB chunks; one read per
 * 64 KiB keeps the per-read work off the file's path).
 */

export class FormDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FormDataError";
  }
}

export interface PartHeaders {
  name: string;
  filename: string | undefined;
  contentType: string | undefined;
}

const CRLF = new Uint8Array([13, 10]);
const HEADER_END = new Uint8Array([13, 10, 13, 10]);
const MAX_HEADER_BYTES = 8 * 1024;
/** Bytes asked of the body per read (fewer only at its end). */
const READ_BYTES = 64 * 1024;

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  if (first === undefined) return from;
  let i = haystack.indexOf(first, from);
  while (i !== -1 && i + needle.length <= haystack.length) {
    let match = true;
    for (let j = 1; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) {
        match = false;
        break;
      }
    }
    if (match) return i;
    i = haystack.indexOf(first, i + 1);
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/** RFC 2046 §5.1.1: `boundary := 0*69<bchars> bcharsnospace`. */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

/**
 * The boundary of a `multipart/form-data` Content-Type (quoted or not), or undefined when the
 * type is another one. Throws FormDataError when it is multipart/form-data without a boundary
 * RFC 2046 §5.1.1 allows (1 to 70 of letters, digits, space and `'()+_,-./:=?`, not ending in a
 * space).
 */
export function formDataBoundary(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const { type, parameters } = parseMediaType(contentType);
  if (type !== "multipart/form-data") return undefined;
  const boundary = parameters.boundary;
  if (boundary === undefined || !BOUNDARY.test(boundary)) {
    throw new FormDataError(
      "the Content-Type has no valid boundary (RFC 2046 §5.1.1: 1 to 70 letters, digits, spaces or '()+_,-./:=?, not ending in a space)",
    );
  }
  return boundary;
}

/** The part headers read (RFC 7578 §4.8: others are ignored). */
const PART_HEADERS = new Set(["content-disposition", "content-type", "content-transfer-encoding"]);

const QUOTE = '"';
const BACKSLASH = "\\";

/**
 * `value` (a part's Content-Disposition) with the quoted-pairs `\"` and `\\` of its quoted strings
 * (RFC 9110 §5.6.4, as RFC 2045 / RFC 822 writers such as Go's mime/multipart send them) rewritten
 * the way browsers escape the same characters (WHATWG HTML, multipart/form-data encoding: `"` as
 * `%22`, a backslash as itself), so that one reading of the browser form covers both. Only these
 * two pairs are read as escapes: browsers send a backslash unescaped, so `\b` stays a backslash
 * and a `b` (which the path rule of RFC 7578 §4.2 then reads as a directory separator). A quoted
 * string left open by the rewrite (a browser's name ending in a backslash, `"a\"`) means the value
 * was not written with quoted-pairs: it is returned as it came.
 */
function quotedPairsAsBrowserEscapes(value: string): string {
  let rewritten = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const char = value.charAt(i);
    const next = value.charAt(i + 1);
    if (quoted && char === BACKSLASH && (next === QUOTE || next === BACKSLASH)) {
      rewritten += next === QUOTE ? "%22" : BACKSLASH;
      i += 1;
      continue;
    }
    if (char === QUOTE) quoted = !quoted;
    rewritten += char;
  }
  return quoted ? value : rewritten;
}

/**
 * A part's header block (RFC 7578 §4): names are case-insensitive, folded lines (a line starting
 * with a space or tab continues the previous one, RFC 5322 §2.2.3) are unfolded. The
 * Content-Disposition is read as browsers write it (`%22`, `%0D`, `%0A` in quoted names) and as
 * RFC 2045 writers do (`\"`, `\\`), with `filename*` (RFC 8187) decoded when present and
 * well-formed, else `filename`.
 */
function parseHeaders(block: string): PartHeaders & { charset: string | undefined } {
  const headers = new Map<string, string>();
  let previous: string | undefined;
  for (const line of block.split("\r\n")) {
    if (previous !== undefined && /^[ \t]/.test(line)) {
      headers.set(previous, `${headers.get(previous) ?? ""} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(":");
    previous = colon > 0 ? line.slice(0, colon).trim().toLowerCase() : undefined;
    if (previous === undefined) continue;
    // One value each (RFC 7578 §4.2, §4.4, §4.7): a second would silently replace the first.
    if (PART_HEADERS.has(previous) && headers.has(previous)) {
      throw new FormDataError(`a part has more than one ${previous} header`);
    }
    headers.set(previous, line.slice(colon + 1).trim());
  }
  const disposition = parseDisposition(quotedPairsAsBrowserEscapes(headers.get("content-disposition") ?? ""), {
    multipart: true,
  });
  if (disposition.type !== "form-data") throw new FormDataError("a part has no form-data Content-Disposition");
  const name = disposition.parameters.name;
  if (name === undefined) throw new FormDataError("a part has no name");
  // RFC 7578 §4.7 deprecates Content-Transfer-Encoding; stored as sent, an encoded file would be wrong.
  const encoding = headers.get("content-transfer-encoding")?.toLowerCase();
  if (encoding !== undefined && !["7bit", "8bit", "binary"].includes(encoding)) {
    throw new FormDataError(`Content-Transfer-Encoding ${encoding} is not supported (RFC 7578 §4.7)`);
  }
  const contentType = headers.get("content-type");
  return {
    name,
    filename: disposition.parameters.filename,
    contentType,
    charset: contentType === undefined ? undefined : parseMediaType(contentType).parameters.charset,
  };
}

/**
 * A field's bytes as text in `charset` (a WHATWG Encoding label, e.g. `utf-8`, `iso-8859-1`);
 * throws FormDataError for a label no decoder knows.
 */
export function decodeField(bytes: Uint8Array, charset: string): string {
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset);
  } catch {
    throw new FormDataError(`a field has an unknown charset "${charset}"`);
  }
  return decoder.decode(bytes);
}

const SPACE = 32;
const TAB = 9;
const DASH = 45;

export class FormDataReader {
  private readonly source: ByteSource;
  /** `\r\n--boundary`: every delimiter but the first, which we make look the same (see constructor). */
  private readonly delimiter: Uint8Array;
  private buffer: Uint8Array;
  private sourceDone = false;
  private inBody = false;
  /** Right after a part's headers, before its first byte (see readChunk). */
  private atBodyStart = false;
  /** The charset of the current part's Content-Type, if it names one. */
  private charset: string | undefined;
  private finished = false;
  private parts = 0;
  private readonly maxParts: number;

  constructor(body: ByteSource | ReadableStream<Uint8Array>, boundary: string, options: { maxParts?: number } = {}) {
    this.source = body instanceof ReadableStream ? byteSource(body) : body;
    this.delimiter = new TextEncoder().encode(`\r\n--${boundary}`);
    // A leading CRLF lets the first boundary (which has none) match the common delimiter.
    this.buffer = CRLF;
    this.maxParts = options.maxParts ?? 20;
  }

  private async fill(): Promise<boolean> {
    if (this.sourceDone) return false;
    // What is left of the buffer goes first, the read lands right after it.
    const kept = this.buffer.length;
    const room = new Uint8Array(kept + READ_BYTES);
    room.set(this.buffer);
    const read = await this.source.readInto(room.subarray(kept), READ_BYTES);
    if (read.length < READ_BYTES) this.sourceDone = true;
    if (read.length === 0) return false;
    this.buffer = new Uint8Array(read.buffer, 0, kept + read.length);
    return true;
  }

  /** Ensures `bytes` bytes are buffered; false when the body ends first. */
  private async need(bytes: number): Promise<boolean> {
    while (this.buffer.length < bytes) {
      if (!(await this.fill())) return false;
    }
    return true;
  }

  /** The headers of the next part, or null after the closing boundary. */
  async nextPart(): Promise<PartHeaders | null> {
    if (this.inBody) throw new FormDataError("the previous part was not consumed");
    if (this.finished) return null;
    if (this.parts === 0) {
      // Skip any preamble up to the first delimiter.
      for (;;) {
        const at = indexOf(this.buffer, this.delimiter);
        if (at !== -1) {
          this.buffer = this.buffer.subarray(at + this.delimiter.length);
          break;
        }
        this.buffer = this.buffer.subarray(Math.max(0, this.buffer.length - this.delimiter.length));
        if (!(await this.fill())) throw new FormDataError("the body has no multipart boundary");
      }
    }
    // After a delimiter: "--" closes; otherwise transport padding (spaces, tabs), then CRLF.
    if (!(await this.need(2))) throw new FormDataError("the body ends inside a boundary");
    if (this.buffer[0] === DASH && this.buffer[1] === DASH) {
      // The close-delimiter: padding and epilogue after it are ignored.
      this.finished = true;
      await this.source.cancel();
      return null;
    }
    for (;;) {
      let padding = 0;
      while (padding < this.buffer.length && (this.buffer[padding] === SPACE || this.buffer[padding] === TAB)) {
        padding += 1;
      }
      this.buffer = this.buffer.subarray(padding);
      if (this.buffer.length > 0) break;
      if (!(await this.fill())) throw new FormDataError("the body ends inside a boundary");
    }
    if (!(await this.need(2))) throw new FormDataError("the body ends inside a boundary");
    if (this.buffer[0] !== 13 || this.buffer[1] !== 10) throw new FormDataError("malformed boundary line");
    // The boundary line's CRLF stays, so that an empty header block is "\r\n\r\n" too.
    for (;;) {
      const end = indexOf(this.buffer, HEADER_END);
      // A read may bring a whole oversized header block at once.
      if (end > MAX_HEADER_BYTES) throw new FormDataError("part headers are too large");
      if (end !== -1) {
        const { charset, ...headers } = parseHeaders(
          new TextDecoder().decode(this.buffer.subarray(2, Math.max(2, end))),
        );
        // The CRLF ending the headers may be the first of a delimiter (an empty body without a
        // blank line, RFC 2046: body-part := MIME-part-headers [CRLF *OCTET]); readChunk decides.
        this.buffer = this.buffer.subarray(end + CRLF.length);
        this.parts += 1;
        if (this.parts > this.maxParts) throw new FormDataError(`more than ${this.maxParts} parts`);
        this.inBody = true;
        this.atBodyStart = true;
        this.charset = charset;
        return headers;
      }
      if (this.buffer.length > MAX_HEADER_BYTES) throw new FormDataError("part headers are too large");
      if (!(await this.fill())) throw new FormDataError("the body ends inside part headers");
    }
  }

  /** The next chunk of the current part's body; null when the part ends. */
  async readChunk(): Promise<Uint8Array | null> {
    if (!this.inBody) return null;
    if (this.atBodyStart) {
      this.atBodyStart = false;
      await this.need(this.delimiter.length);
      if (indexOf(this.buffer.subarray(0, this.delimiter.length), this.delimiter) === 0) {
        this.buffer = this.buffer.subarray(this.delimiter.length);
        this.inBody = false;
        return null;
      }
      this.buffer = this.buffer.subarray(CRLF.length);
    }
    for (;;) {
      const at = indexOf(this.buffer, this.delimiter);
      if (at !== -1) {
        // The last data of the part (the next call reports its end), or its end right away.
        const chunk = this.buffer.subarray(0, at);
        this.buffer = this.buffer.subarray(at + this.delimiter.length);
        this.inBody = false;
        return chunk.length > 0 ? chunk : null;
      }
      // Keep back what could be the start of a delimiter split across reads.
      const safe = this.buffer.length - (this.delimiter.length - 1);
      if (safe > 0) {
        const chunk = this.buffer.subarray(0, safe);
        this.buffer = this.buffer.subarray(safe);
        return chunk;
      }
      if (!(await this.fill())) throw new FormDataError("the body ends inside a part");
    }
  }

  /** The current part's body as a `ByteSource` (for a file), read as it is consumed. */
  partSource(): ByteSource {
    return chunkSource(
      () => this.readChunk(),
      () => this.cancel(),
    );
  }

  /** The charset named by the current part's Content-Type, if any. */
  get partCharset(): string | undefined {
    return this.charset;
  }

  /** The current part's body as bytes, for a field; refused beyond `maxBytes`. */
  async bytes(maxBytes: number): Promise<Uint8Array> {
    let bytes: Uint8Array = new Uint8Array(0);
    for (;;) {
      const chunk = await this.readChunk();
      if (chunk === null) break;
      bytes = concat(bytes, chunk);
      if (bytes.length > maxBytes) throw new FormDataError(`a field is longer than ${maxBytes} bytes`);
    }
    return bytes;
  }

  /**
   * The current part's body as text, for a field, decoded in the charset its Content-Type names,
   * else `fallback` (RFC 7578 §4.6, §5.1.2: UTF-8 unless the form says otherwise); an unknown
   * charset or more than `maxBytes` is refused.
   */
  async text(maxBytes: number, fallback = "utf-8"): Promise<string> {
    const charset = this.charset ?? fallback;
    // Checked before reading, so that a bad charset is reported as such.
    decodeField(new Uint8Array(0), charset);
    return decodeField(await this.bytes(maxBytes), charset);
  }

  /** Stops reading the request. */
  async cancel(): Promise<void> {
    await this.source.cancel();
  }
}
