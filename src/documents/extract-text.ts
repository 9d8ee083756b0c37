import { unzipSync } from "fflate";
import { extractText as extractPdfText, getDocumentProxy } from "unpdf";
import { DOCX } from "./content-types.ts";
import { markdownToHtml } from "./convert.ts";

/**
 * Text for the search index, from every type we accept that has text. Sizes are bounded so an
 * isolate (128 MB) never holds more than a few tens of megabytes: text formats are read up to
 * `MAX_TEXT_SOURCE_BYTES`, PDF and DOCX (which need the whole file) up to `MAX_BINARY_SOURCE_BYTES`,
 * and the stored text is cut at `MAX_INDEXED_CHARS`. Anything cut is marked `truncated`.
 */
export const MAX_TEXT_SOURCE_BYTES = 4 * 1024 * 1024;
export const MAX_BINARY_SOURCE_BYTES = 32 * 1024 * 1024;
/** Postgres caps a tsvector at 1 MB; half a million characters stays well inside it. */
export const MAX_INDEXED_CHARS = 500_000;
/** A DOCX whose text part inflates beyond this is treated as a zip bomb. */
const MAX_DOCX_XML_BYTES = 64 * 1024 * 1024;

export interface ExtractedText {
  text: string;
  truncated: boolean;
}

/** The file is damaged or not what it claims: processing fails with this reason, no retry. */
export class ExtractionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ExtractionError";
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
    .replace(/ *\n */g, "\n")
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

/** The text of a DOCX: paragraphs of its `word/document.xml`. */
export function docxToText(bytes: Uint8Array): string {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, {
      filter: (file) => {
        if (file.name !== "word/document.xml") return false;
        if (file.originalSize > MAX_DOCX_XML_BYTES)
          throw new ExtractionError("the DOCX text part is implausibly large");
        return true;
      },
    });
  } catch (error) {
    if (error instanceof ExtractionError) throw error;
    throw new ExtractionError(
      `the DOCX file could not be read: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
  const xml = files["word/document.xml"];
  if (!xml) throw new ExtractionError("the DOCX file has no word/document.xml");
  const source = new TextDecoder().decode(xml);
  const out: string[] = [];
  for (const match of source.matchAll(/<w:t(?:\s[^>]*)?>([^<]*)<\/w:t>|<w:tab\/>|<w:br\/>|<\/w:p>/g)) {
    const [token, text] = match;
    if (text !== undefined) out.push(decodeEntities(text));
    else out.push(token === "<w:tab/>" ? "\t" : "\n");
  }
  return out.join("");
}

async function pdfToText(bytes: Uint8Array): Promise<string> {
  try {
    const pdf = await getDocumentProxy(bytes);
    const { text } = await extractPdfText(pdf, { mergePages: true });
    return text;
  } catch (error) {
    throw new ExtractionError(`the PDF could not be read: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

/**
 * The indexable text of a file of an accepted type, read from `open()` (called at most once).
 * Images have none. Throws `ExtractionError` for a damaged file.
 */
export async function extractText(
  contentType: string,
  size: number,
  open: () => Promise<ReadableStream<Uint8Array>>,
): Promise<ExtractedText> {
  if (contentType.startsWith("image/")) return { text: "", truncated: false };

  if (contentType.startsWith("text/")) {
    const { bytes, more } = await readAtMost(await open(), MAX_TEXT_SOURCE_BYTES);
    // A cut may split a character; the decoder drops the partial one at the end.
    const source = new TextDecoder("utf-8", { fatal: false, ignoreBOM: false }).decode(bytes, { stream: more });
    if (contentType === "text/html") return normalise(await htmlToText(source), more);
    if (contentType === "text/markdown") return normalise(await htmlToText(await markdownToHtml(source, "")), more);
    return normalise(source, more);
  }

  if (contentType === "application/pdf" || contentType === DOCX) {
    // Both formats need the whole file; beyond the bound the document is kept but not indexed.
    if (size > MAX_BINARY_SOURCE_BYTES) return { text: "", truncated: true };
    const { bytes } = await readAtMost(await open(), MAX_BINARY_SOURCE_BYTES);
    return normalise(contentType === DOCX ? docxToText(bytes) : await pdfToText(bytes), false);
  }

  return { text: "", truncated: false };
}
