import type { Unzlib } from "fflate";
import type MarkdownIt from "markdown-it";
import type { getDocumentProxy } from "unpdf";
import type { FailureReason } from "../db/schema/documents.ts";
import { DOCX } from "./content-types.ts";

// The parsers (pdf.js through unpdf, saxes, fflate's inflater, markdown-it) are imported when a
// file of their format is first read, not when the worker starts: pdf.js alone is most of the
// processor's bundle, and a new isolate's startup is paid before its first message ("Startup" in
// the README). The module registry evaluates each once; later `import()`s return it at once.

/**
 * Text for the search index, from every type we accept that has text. Sizes are bounded so an
 * isolate (128 MB) never holds more than a few tens of megabytes: text formats are read up to
 * `MAX_TEXT_SOURCE_BYTES`, PDF and DOCX (which need the whole file) up to `MAX_BINARY_SOURCE_BYTES`,
 * and the stored text is cut at `MAX_INDEXED_CHARS`. Anything cut is marked `truncated`.
 *
 * PDF and DOCX are also bounded in the work they cause (OWASP API4:2023, Unrestricted Resource
 * Consumption): a small file can inflate to gigabytes or hold thousands of pages. Past a bound of
 * `ExtractionBounds` extraction stops and throws `ExtractionError` with reason `file_too_complex`:
 * the file's own fault, so the version fails and the message is not retried.
 */
export const MAX_TEXT_SOURCE_BYTES = 4 * 1024 * 1024;
export const MAX_BINARY_SOURCE_BYTES = 32 * 1024 * 1024;
/** Postgres caps a tsvector at 1 MB; half a million characters stays well inside it. */
export const MAX_INDEXED_CHARS = 500_000;
/**
 * Markdown longer than this is indexed as it is written, markup and all (search ignores the
 * punctuation): markdown-it's time is linear in the source, but its worst inputs (runs of `![`)
 * cost about 5 ms per KiB, so a whole 4 MiB text would take 20 s.
 */
export const MAX_MARKDOWN_PARSE_CHARS = 256 * 1024;

/** How much work one PDF or DOCX may cause before it fails as `file_too_complex`. */
export interface ExtractionBounds {
  /** Pages of a PDF (its page count, read before any page is). */
  maxPages: number;
  /**
   * Bytes one decompressed part may have: a DOCX's `word/document.xml` (parsed as it inflates,
   * never held whole), and each Flate stream of a PDF that is not an image (pdf.js holds each one
   * whole while it reads it).
   */
  maxInflatedBytes: number;
  /** Bytes all the non-image Flate streams of one PDF may inflate to together (CPU, not memory). */
  maxTotalInflatedBytes: number;
  /**
   * Milliseconds one extraction may take, checked between pages and between chunks of inflated
   * XML. Workers advance the clock only across I/O, so each check first yields to the event loop.
   */
  maxMilliseconds: number;
}

export const DEFAULT_EXTRACTION_BOUNDS: ExtractionBounds = {
  maxPages: 5_000,
  maxInflatedBytes: 32 * 1024 * 1024,
  maxTotalInflatedBytes: 256 * 1024 * 1024,
  maxMilliseconds: 20_000,
};

export interface ExtractedText {
  text: string;
  truncated: boolean;
}

/**
 * Extraction cannot succeed for this file, however often it is tried: processing fails with
 * `reason` (`unsupported_content`: damaged or not what it claims; `file_too_complex`: past a bound
 * of `ExtractionBounds`) and is not retried. The message is the operator's detail, never shown to
 * users.
 */
export class ExtractionError extends Error {
  readonly reason: FailureReason;
  constructor(reason: FailureReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ExtractionError";
    this.reason = reason;
  }
}

const tooComplex = (detail: string) => new ExtractionError("file_too_complex", detail);

/** A wall-clock budget that can be checked from synchronous loops' breaks (see `maxMilliseconds`). */
class Deadline {
  readonly #milliseconds: number;
  readonly #until: number;
  constructor(milliseconds: number) {
    this.#milliseconds = milliseconds;
    this.#until = Date.now() + milliseconds;
  }
  /** Throws `file_too_complex` once the budget is spent; yields first so that the clock moves. */
  async check(what: string): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (Date.now() > this.#until) throw tooComplex(`${what} took longer than ${this.#milliseconds} ms`);
  }
}

/** Reads at most `max` bytes of a stream (cancelling the rest); says whether there was more. */
export async function readAtMost(
  body: ReadableStream<Uint8Array>,
  max: number,
): Promise<{ bytes: Uint8Array; more: boolean }> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  let more = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (length + value.length > max) {
        chunks.push(value.subarray(0, max - length));
        length = max;
        more = true;
        break;
      }
      chunks.push(value);
      length += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return { bytes, more };
}

function normalise(text: string, truncated: boolean): ExtractedText {
  // Stored as Postgres text, which holds no U+0000 (PostgreSQL §8.3) and only well-formed Unicode:
  // a PDF's text layer or a character reference (`&#xD800;`) can yield either.
  const tidy = text
    .replaceAll("\u0000", " ")
    .toWellFormed()
    .replace(/\r\n?/g, "\n")
    .replace(/[ \t\f\v\u00a0]+/g, " ")
    // Runs of spaces are single spaces by now: one on either side (/ *\n */ rescans a run from each space).
    .replace(/ ?\n ?/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
  if (tidy.length > MAX_INDEXED_CHARS) return { text: tidy.slice(0, MAX_INDEXED_CHARS), truncated: true };
  return { text: tidy, truncated };
}

// A Map: the name comes from the document, and `&constructor;` must not find Object's own property.
const NAMED_ENTITIES: ReadonlyMap<string, string> = new Map([
  ["amp", "&"],
  ["lt", "<"],
  ["gt", ">"],
  ["quot", '"'],
  ["apos", "'"],
  ["nbsp", " "],
]);

/** Decodes the character references HTML and XML text carries (`&amp;`, `&#233;`, `&#xE9;`). */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, ref: string) => {
    if (ref[0] === "#") {
      const code = ref[1] === "x" || ref[1] === "X" ? Number.parseInt(ref.slice(2), 16) : Number(ref.slice(1));
      return Number.isInteger(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES.get(ref.toLowerCase()) ?? whole;
  });
}

const SKIPPED_ELEMENTS = "script, style, noscript, template, svg, head";
const BLOCK_ELEMENTS =
  "p, div, li, tr, h1, h2, h3, h4, h5, h6, section, article, header, footer, blockquote, pre, table";

/** The visible text of an HTML document, via the runtime's streaming HTMLRewriter. */
export async function htmlToText(html: string): Promise<string> {
  const parts: string[] = [];
  let skipped = 0;
  const rewriter = new HTMLRewriter()
    .on(SKIPPED_ELEMENTS, {
      element(element) {
        skipped += 1;
        element.onEndTag(() => {
          skipped -= 1;
        });
      },
    })
    .on("br", {
      element() {
        parts.push("\n");
      },
    })
    .on(BLOCK_ELEMENTS, {
      element(element) {
        parts.push("\n");
        element.onEndTag(() => {
          parts.push("\n");
        });
      },
    })
    .on("*", {
      text(chunk) {
        if (skipped === 0 && chunk.text) parts.push(chunk.text);
      },
    });
  await rewriter
    .transform(new Response(html, { headers: { "Content-Type": "text/html; charset=utf-8" } }))
    .arrayBuffer();
  return decodeEntities(parts.join(""));
}

let markdownParser: MarkdownIt | undefined;

/**
 * The text of Markdown, from markdown-it's tokens: inline text and code, code blocks, image
 * descriptions, a line break after each block. Linear in the source (marked, the renderer's
 * library, takes time quadratic in runs like `a*a*a*…` and overflows the stack on nested quotes).
 */
export async function markdownToText(source: string): Promise<string> {
  const { default: MarkdownIt } = await import("markdown-it");
  // No raw HTML (it stays text) and no link detection: only the text is wanted.
  markdownParser ??= new MarkdownIt({ html: false, linkify: false });
  const out: string[] = [];
  for (const token of markdownParser.parse(source, {})) {
    if (token.type === "inline") {
      for (const child of token.children ?? []) {
        if (child.type === "text" || child.type === "text_special" || child.type === "code_inline")
          out.push(child.content);
        else if (child.type === "image") out.push(child.content);
        else if (child.type === "softbreak" || child.type === "hardbreak") out.push("\n");
      }
    } else if (token.type === "code_block" || token.type === "fence") {
      out.push(token.content, "\n");
    } else if (token.type === "html_block") {
      out.push(token.content, "\n");
    } else if (token.block && token.nesting === -1) {
      out.push("\n");
    }
  }
  return out.join("");
}

/**
 * WordprocessingML's namespaces (ECMA-376 Part 1 §17, Transitional; ISO/IEC 29500 Strict):
 * `w:t`, `w:tab`, `w:br`, `w:p`, whatever prefix a document binds them to.
 */
const WORDPROCESSING_NS: ReadonlySet<string> = new Set([
  "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
  "http://purl.oclc.org/ooxml/wordprocessingml/main",
]);
/** Compressed bytes handed to the inflater at once: one push inflates to at most ~1032 times this. */
const INFLATE_SLICE_BYTES = 8 * 1024;
/** Well-formedness errors a DOCX text part may have before it is refused. */
const MAX_XML_ERRORS = 100;
/** Inflated bytes between two checks of the deadline. */
const CHECK_EVERY_BYTES = 4 * 1024 * 1024;

/**
 * The text of a DOCX: paragraphs of its `word/document.xml`, inflated a slice at a time and read
 * by a streaming XML parser (saxes), so time grows linearly with the part and memory holds only
 * the text. Throws `ExtractionError`: `unsupported_content` when the file is not a readable DOCX,
 * `file_too_complex` past `bounds.maxInflatedBytes` or `bounds.maxMilliseconds`.
 */
export async function docxToText(
  bytes: Uint8Array,
  bounds: ExtractionBounds = DEFAULT_EXTRACTION_BOUNDS,
): Promise<ExtractedText> {
  const [{ SaxesParser }, { Unzip, UnzipInflate }] = await Promise.all([import("saxes"), import("fflate")]);
  const deadline = new Deadline(bounds.maxMilliseconds);
  const out: string[] = [];
  let chars = 0;
  let truncated = false;
  let inText = 0;
  const parser = new SaxesParser({ xmlns: true });
  // Text is for the index: a few malformed spots are skipped (saxes carries on after each), but a
  // part that is mostly not XML is not a DOCX, and each error costs the parser an exception.
  let errors = 0;
  parser.on("error", (error) => {
    errors += 1;
    if (errors > MAX_XML_ERRORS)
      throw new ExtractionError("unsupported_content", `the DOCX text part is not XML: ${error.message}`);
  });
  parser.on("opentag", (tag) => {
    if (!WORDPROCESSING_NS.has(tag.uri)) return;
    if (tag.local === "t") inText += 1;
    else if (tag.local === "tab") out.push("\t");
    else if (tag.local === "br") out.push("\n");
  });
  parser.on("closetag", (tag) => {
    if (!WORDPROCESSING_NS.has(tag.uri)) return;
    if (tag.local === "t") inText = Math.max(0, inText - 1);
    else if (tag.local === "p") out.push("\n");
  });
  const onText = (text: string) => {
    if (inText === 0 || truncated) return;
    out.push(text);
    chars += text.length;
    if (chars > MAX_INDEXED_CHARS) truncated = true;
  };
  parser.on("text", onText);
  parser.on("cdata", onText);

  let found = false;
  let finished = false;
  let inflated = 0;
  let nextCheck = CHECK_EVERY_BYTES;
  let failure: ExtractionError | undefined;
  const decoder = new TextDecoder();
  const unzip = new Unzip((file) => {
    if (file.name !== "word/document.xml" || found) return;
    found = true;
    file.ondata = (error, chunk, final) => {
      if (failure || finished) return;
      if (error) {
        failure = new ExtractionError(
          "unsupported_content",
          `the DOCX text part could not be inflated: ${error.message}`,
        );
        return;
      }
      inflated += chunk.length;
      if (inflated > bounds.maxInflatedBytes) {
        failure = tooComplex(`the DOCX text part inflates beyond ${bounds.maxInflatedBytes} bytes`);
        file.terminate();
        return;
      }
      try {
        parser.write(decoder.decode(chunk, { stream: !final }));
        if (final) {
          parser.close();
          finished = true;
        }
      } catch (error) {
        failure =
          error instanceof ExtractionError
            ? error
            : new ExtractionError("unsupported_content", `the DOCX text part could not be parsed: ${String(error)}`);
        file.terminate();
      }
    };
    file.start();
  });
  unzip.register(UnzipInflate);
  try {
    for (let at = 0; at < bytes.length && !failure && !finished && !truncated; at += INFLATE_SLICE_BYTES) {
      unzip.push(bytes.subarray(at, at + INFLATE_SLICE_BYTES), at + INFLATE_SLICE_BYTES >= bytes.length);
      if (inflated >= nextCheck) {
        nextCheck += CHECK_EVERY_BYTES;
        await deadline.check("reading the DOCX text part");
      }
    }
  } catch (error) {
    if (error instanceof ExtractionError) throw error;
    throw new ExtractionError(
      "unsupported_content",
      `the DOCX file could not be read: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  if (failure) throw failure;
  if (!found) throw new ExtractionError("unsupported_content", "the DOCX file has no word/document.xml");
  if (!finished && !truncated) throw new ExtractionError("unsupported_content", "the DOCX text part is cut short");
  return { text: out.join(""), truncated };
}

const ascii = (text: string) => new TextEncoder().encode(text);
const STREAM_KEYWORD = ascii("stream");
const OBJ_KEYWORD = ascii("obj");
const IMAGE_SUBTYPE = /\/Subtype\s*\/Image\b/;
/** `stream` keywords between two checks of the deadline. */
const KEYWORDS_PER_CHECK = 4096;
/** How far before `stream` its dictionary is looked for. */
const DICTIONARY_WINDOW_BYTES = 4096;

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from: number, until = haystack.length): number {
  const first = needle[0] ?? 0;
  for (
    let at = haystack.indexOf(first, from);
    at !== -1 && at + needle.length <= until;
    at = haystack.indexOf(first, at + 1)
  ) {
    let same = true;
    for (let k = 1; k < needle.length && same; k += 1) same = haystack[at + k] === needle[k];
    if (same) return at;
  }
  return -1;
}

function lastIndexOfBytes(haystack: Uint8Array, needle: Uint8Array, from: number, until: number): number {
  for (let at = until - needle.length; at >= from; at -= 1) {
    let same = true;
    for (let k = 0; k < needle.length && same; k += 1) same = haystack[at + k] === needle[k];
    if (same) return at;
  }
  return -1;
}

const ENDSTREAM_KEYWORD = ascii("endstream");
/** A direct `/Length n` (not the indirect `/Length n g R`). */
const DIRECT_LENGTH = /\/Length\s+(\d+)\b(?!\s+\d+\s+R)/;
/** fflate's code for data that ends before its deflate stream does. */
const UNEXPECTED_EOF = 0;

const isFlateError = (error: unknown): error is Error & { code: number } =>
  error instanceof Error && typeof (error as { code?: unknown }).code === "number";

/**
 * Bytes the zlib stream (RFC 1950, as FlateDecode holds it) in `bytes[start, end)` inflates to,
 * counted up to `max` (past it, `max + 1`), and whether the data ended before the stream did.
 * Inflated a slice at a time and never kept.
 */
function inflatedSize(
  Inflater: typeof Unzlib,
  bytes: Uint8Array,
  start: number,
  end: number,
  max: number,
): { size: number; cut: boolean; fed: number } {
  // A zlib header (RFC 1950 §2.2: deflate, a window of at most 32 KiB, FCHECK) or nothing to inflate.
  const cmf = bytes[start] ?? 0;
  const flg = bytes[start + 1] ?? 0;
  if (end - start < 2 || (cmf & 0x0f) !== 8 || cmf >> 4 > 7 || ((cmf << 8) | flg) % 31 !== 0) {
    return { size: 0, cut: false, fed: Math.min(2, end - start) };
  }
  let size = 0;
  let fed = 0;
  const inflater = new Inflater((chunk) => {
    size += chunk.length;
  });
  try {
    for (let at = start; at < end && size <= max; at += INFLATE_SLICE_BYTES) {
      const stop = Math.min(end, at + INFLATE_SLICE_BYTES);
      fed += stop - at;
      inflater.push(bytes.subarray(at, stop), stop === end);
    }
  } catch (error) {
    // Not zlib (another filter, or none) counts what it inflated; data cut short may go on.
    const cut = isFlateError(error) && error.code === UNEXPECTED_EOF && size > 0;
    return { size: Math.min(size, max + 1), cut, fed };
  }
  return { size: Math.min(size, max + 1), cut: false, fed };
}

/**
 * The first `endstream` at or after a position, for positions that only grow: one search serves
 * every stream up to the `endstream` it found, so a file of many `stream` keywords and no
 * `endstream` is scanned once, not once per keyword.
 */
function endstreamFinder(bytes: Uint8Array): (from: number) => number {
  let searchedFrom = Number.POSITIVE_INFINITY;
  let found = -1;
  return (from) => {
    const known = from >= searchedFrom && (found === -1 || found >= from);
    if (!known) {
      searchedFrom = from;
      found = indexOfBytes(bytes, ENDSTREAM_KEYWORD, from);
    }
    return found === -1 ? bytes.length : found;
  };
}

/**
 * Where the data of the stream starting at `data` ends, as pdf.js finds it: at its direct
 * `/Length` when `endstream` follows there, else at the next `endstream` (ISO 32000-1 §7.3.8.1).
 */
function streamEnd(
  bytes: Uint8Array,
  data: number,
  dictionary: string,
  nextEndstream: (from: number) => number,
): number {
  const declared = DIRECT_LENGTH.exec(dictionary);
  if (declared?.[1]) {
    const end = data + Number(declared[1]);
    let at = end;
    while (at < bytes.length && (bytes[at] === 0x0a || bytes[at] === 0x0d || bytes[at] === 0x20)) at += 1;
    if (indexOfBytes(bytes, ENDSTREAM_KEYWORD, at, at + ENDSTREAM_KEYWORD.length) === at) return end;
  }
  return nextEndstream(data);
}

/**
 * Checks, before pdf.js sees the file, what its Flate streams inflate to: pdf.js holds a stream
 * whole while it reads it and has no bound of its own, so a content stream of a few kilobytes
 * that inflates to gigabytes would end the isolate (and its message would be retried). Image
 * streams (`/Subtype /Image`) are skipped: text extraction never decodes them.
 * Throws `file_too_complex` past `maxInflatedBytes` for one stream or `maxTotalInflatedBytes`
 * for all of them, or when scanning the streams feeds the inflater more than four times the file.
 */
export async function checkPdfStreams(
  bytes: Uint8Array,
  bounds: ExtractionBounds,
  deadline = new Deadline(bounds.maxMilliseconds),
): Promise<void> {
  const { Unzlib } = await import("fflate");
  const latin1 = new TextDecoder("latin1");
  const nextEndstream = endstreamFinder(bytes);
  let total = 0;
  let fed = 0;
  let nextCheck = CHECK_EVERY_BYTES;
  let keywords = 0;
  // Where the previous keyword ended: dictionary windows never overlap, so they cost one pass.
  let previous = 0;
  for (let at = indexOfBytes(bytes, STREAM_KEYWORD, 0); at !== -1; at = indexOfBytes(bytes, STREAM_KEYWORD, at + 1)) {
    const windowStart = Math.max(previous, at - DICTIONARY_WINDOW_BYTES);
    previous = at + STREAM_KEYWORD.length;
    keywords += 1;
    if (keywords % KEYWORDS_PER_CHECK === 0) await deadline.check("checking the PDF's streams");
    // `stream` followed by an end of line, not the end of `endstream` (ISO 32000-1 §7.3.8.1).
    let data = at + STREAM_KEYWORD.length;
    if (bytes[data] === 0x0d) data += 1;
    if (bytes[data] !== 0x0a && bytes[data - 1] !== 0x0d) continue;
    if (bytes[data] === 0x0a) data += 1;
    if (at >= 3 && bytes[at - 3] === 0x65 && bytes[at - 2] === 0x6e && bytes[at - 1] === 0x64) continue;
    const object = lastIndexOfBytes(bytes, OBJ_KEYWORD, windowStart, at);
    const dictionary = latin1.decode(bytes.subarray(object === -1 ? windowStart : object, at));
    if (IMAGE_SUBTYPE.test(dictionary)) continue;
    // An `endstream` inside the data (an indirect `/Length` lets pdf.js read past it) cuts the
    // deflate stream short: it is inflated again up to the next one, within the `fed` bound.
    let end = streamEnd(bytes, data, dictionary, nextEndstream);
    let stream = inflatedSize(Unzlib, bytes, data, end, bounds.maxInflatedBytes);
    fed += stream.fed;
    while (stream.cut && end < bytes.length && fed <= 4 * bytes.length) {
      const next = indexOfBytes(bytes, ENDSTREAM_KEYWORD, end + 1);
      end = next === -1 ? bytes.length : next;
      stream = inflatedSize(Unzlib, bytes, data, end, bounds.maxInflatedBytes);
      fed += stream.fed;
    }
    if (stream.size > bounds.maxInflatedBytes)
      throw tooComplex(`a PDF stream inflates beyond ${bounds.maxInflatedBytes} bytes`);
    total += stream.size;
    if (total > bounds.maxTotalInflatedBytes)
      throw tooComplex(`the PDF's streams inflate beyond ${bounds.maxTotalInflatedBytes} bytes together`);
    if (fed > 4 * bytes.length) throw tooComplex("the PDF's streams overlap too much to be checked");
    if (total >= nextCheck) {
      nextCheck = total + CHECK_EVERY_BYTES;
      await deadline.check("checking the PDF's streams");
    }
  }
}

/**
 * The text of a PDF, page by page (pdf.js through unpdf). Throws `ExtractionError`:
 * `unsupported_content` when pdf.js cannot read it, `file_too_complex` past a bound.
 */
export async function pdfToText(
  bytes: Uint8Array,
  bounds: ExtractionBounds = DEFAULT_EXTRACTION_BOUNDS,
): Promise<string> {
  const deadline = new Deadline(bounds.maxMilliseconds);
  await checkPdfStreams(bytes, bounds, deadline);
  let pdf: Awaited<ReturnType<typeof getDocumentProxy>> | undefined;
  try {
    const unpdf = await import("unpdf");
    pdf = await unpdf.getDocumentProxy(bytes);
    if (pdf.numPages > bounds.maxPages)
      throw tooComplex(`the PDF has ${pdf.numPages} pages, more than ${bounds.maxPages}`);
    const pages: string[] = [];
    let chars = 0;
    for (let number = 1; number <= pdf.numPages && chars <= MAX_INDEXED_CHARS; number += 1) {
      const page = await pdf.getPage(number);
      const content = await page.getTextContent();
      const text = content.items.map((item) => ("str" in item ? item.str + (item.hasEOL ? "\n" : "") : "")).join("");
      pages.push(text);
      chars += text.length;
      page.cleanup();
      await deadline.check("reading the PDF's pages");
    }
    return pages.join("\n");
  } catch (error) {
    if (error instanceof ExtractionError) throw error;
    throw new ExtractionError(
      "unsupported_content",
      `the PDF could not be read: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  } finally {
    await pdf?.loadingTask.destroy().catch(() => {});
  }
}

/**
 * The indexable text of a file of an accepted type, read from `open()` (called at most once).
 * Images have none. Throws `ExtractionError` for a damaged file or one past `bounds`.
 */
export async function extractText(
  contentType: string,
  size: number,
  open: () => Promise<ReadableStream<Uint8Array>>,
  bounds: ExtractionBounds = DEFAULT_EXTRACTION_BOUNDS,
): Promise<ExtractedText> {
  if (contentType.startsWith("image/")) return { text: "", truncated: false };

  if (contentType.startsWith("text/")) {
    const { bytes, more } = await readAtMost(await open(), MAX_TEXT_SOURCE_BYTES);
    // A cut may split a character; the decoder drops the partial one at the end.
    const source = new TextDecoder("utf-8", { fatal: false, ignoreBOM: false }).decode(bytes, { stream: more });
    if (contentType === "text/html") return normalise(await htmlToText(source), more);
    if (contentType === "text/markdown")
      return normalise(source.length <= MAX_MARKDOWN_PARSE_CHARS ? await markdownToText(source) : source, more);
    return normalise(source, more);
  }

  if (contentType === "application/pdf" || contentType === DOCX) {
    // Both formats need the whole file; beyond the bound the document is kept but not indexed.
    if (size > MAX_BINARY_SOURCE_BYTES) return { text: "", truncated: true };
    const { bytes } = await readAtMost(await open(), MAX_BINARY_SOURCE_BYTES);
    if (contentType === DOCX) {
      const { text, truncated } = await docxToText(bytes, bounds);
      return normalise(text, truncated);
    }
    return normalise(await pdfToText(bytes, bounds), false);
  }

  return { text: "", truncated: false };
}
