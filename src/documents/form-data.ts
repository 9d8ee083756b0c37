/**
 * A streaming reader for `multipart/form-data` (RFC 7578): fields are read into strings, and a
 * file part is handed over as a stream that is read straight off the request body, so a file of
 * any size never sits in memory. Parts come in order; a part's body must be consumed (or
 * cancelled) before asking for the next part.
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

/** The boundary of a `multipart/form-data` Content-Type, or undefined if it is not one. */
export function formDataBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) return undefined;
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}

function parseHeaders(block: string): PartHeaders {
  const headers = new Map<string, string>();
  for (const line of block.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const disposition = headers.get("content-disposition") ?? "";
  if (!/^form-data\b/i.test(disposition)) throw new FormDataError("a part has no form-data Content-Disposition");
  const param = (key: string) => {
    const quoted = new RegExp(`;\\s*${key}="((?:[^"\\\\]|\\\\.)*)"`, "i").exec(disposition);
    if (quoted?.[1] !== undefined) return quoted[1].replace(/\\(.)/g, "$1");
    return new RegExp(`;\\s*${key}=([^;\\s]+)`, "i").exec(disposition)?.[1];
  };
  const extended = /;\s*filename\*=UTF-8''([^;\s]+)/i.exec(disposition)?.[1];
  const name = param("name");
  if (name === undefined) throw new FormDataError("a part has no name");
  return {
    name,
    filename: extended ? decodeURIComponent(extended) : param("filename"),
    contentType: headers.get("content-type"),
  };
}

export class FormDataReader {
  private readonly source: ReadableStreamDefaultReader<Uint8Array>;
  /** `\r\n--boundary`: every delimiter but the first, which we make look the same (see constructor). */
  private readonly delimiter: Uint8Array;
  private buffer: Uint8Array;
  private sourceDone = false;
  private inBody = false;
  private finished = false;
  private parts = 0;
  private readonly maxParts: number;

  constructor(body: ReadableStream<Uint8Array>, boundary: string, options: { maxParts?: number } = {}) {
    this.source = body.getReader();
    this.delimiter = new TextEncoder().encode(`\r\n--${boundary}`);
    // A leading CRLF lets the first boundary (which has none) match the common delimiter.
    this.buffer = CRLF;
    this.maxParts = options.maxParts ?? 20;
  }

  private async fill(): Promise<boolean> {
    if (this.sourceDone) return false;
    const { value, done } = await this.source.read();
    if (done) {
      this.sourceDone = true;
      return false;
    }
    this.buffer = concat(this.buffer, value);
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
    while (this.buffer.length < 2) {
      if (!(await this.fill())) throw new FormDataError("the body ends inside a boundary");
    }
    if (this.buffer[0] === 45 && this.buffer[1] === 45) {
      // "--": the closing boundary.
      this.finished = true;
      await this.source.cancel().catch(() => {});
      return null;
    }
    if (this.buffer[0] !== 13 || this.buffer[1] !== 10) throw new FormDataError("malformed boundary line");
    this.buffer = this.buffer.subarray(2);
    for (;;) {
      const end = indexOf(this.buffer, HEADER_END);
      if (end !== -1) {
        const headers = parseHeaders(new TextDecoder().decode(this.buffer.subarray(0, end)));
        this.buffer = this.buffer.subarray(end + HEADER_END.length);
        this.parts += 1;
        if (this.parts > this.maxParts) throw new FormDataError(`more than ${this.maxParts} parts`);
        this.inBody = true;
        return headers;
      }
      if (this.buffer.length > MAX_HEADER_BYTES) throw new FormDataError("part headers are too large");
      if (!(await this.fill())) throw new FormDataError("the body ends inside part headers");
    }
  }

  /** The next chunk of the current part's body; null when the part ends. */
  async readChunk(): Promise<Uint8Array | null> {
    if (!this.inBody) return null;
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

  /** The current part's body as a stream (for a file), read as it is consumed. */
  bodyStream(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const chunk = await this.readChunk();
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
    });
  }

  /** The current part's body as text, for a field; refused beyond `maxBytes`. */
  async text(maxBytes: number): Promise<string> {
    let bytes: Uint8Array = new Uint8Array(0);
    for (;;) {
      const chunk = await this.readChunk();
      if (chunk === null) break;
      bytes = concat(bytes, chunk);
      if (bytes.length > maxBytes) throw new FormDataError(`a field is longer than ${maxBytes} bytes`);
    }
    return new TextDecoder().decode(bytes);
  }

  /** Stops reading the request. */
  async cancel(): Promise<void> {
    await this.source.cancel().catch(() => {});
  }
}
