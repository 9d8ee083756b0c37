import { strToU8, zipSync } from "fflate";
import { describe, expect, it } from "vitest";
import {
  checkPdfStreams,
  DEFAULT_EXTRACTION_BOUNDS,
  decodeEntities,
  docxToText,
  type ExtractionBounds,
  ExtractionError,
  extractText,
  htmlToText,
  MAX_INDEXED_CHARS,
  MAX_MARKDOWN_PARSE_CHARS,
  MAX_TEXT_SOURCE_BYTES,
  pdfToText,
} from "../../src/documents/extract-text.ts";
import { docx, flatePdf, pdf } from "../fixtures/files.ts";
import { expectLinear } from "../fixtures/linear-time.ts";

const W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
const documentXml = (body: string) =>
  zipSync({ "word/document.xml": strToU8(`<w:document xmlns:w="${W_NS}"><w:body>${body}</w:body></w:document>`) });

const rejectsWith = async (work: Promise<unknown>, reason: string, detail: RegExp) => {
  const error = await work.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ExtractionError);
  expect(error).toMatchObject({ reason, message: expect.stringMatching(detail) });
};

const stream = (bytes: Uint8Array | string) => async () => new Response(bytes).body as ReadableStream<Uint8Array>;
const extract = (type: string, bytes: Uint8Array | string) => {
  const size = typeof bytes === "string" ? new TextEncoder().encode(bytes).byteLength : bytes.byteLength;
  return extractText(type, size, stream(bytes));
};

describe("extractText", () => {
  it("reads PDF pages", async () => {
    const result = await extract("application/pdf", pdf(["First line (with parentheses)", "Second line"]));
    expect(result.truncated).toBe(false);
    expect(result.text).toContain("First line (with parentheses)");
    expect(result.text).toContain("Second line");
  });

  it("stores only text Postgres can hold: no U+0000, no unpaired surrogate", async () => {
    const fromPdf = await extract("application/pdf", pdf(["before\u0000after"]));
    expect(fromPdf.text).toContain("before");
    expect(fromPdf.text).not.toContain("\u0000");
    const xml = (text: string) =>
      zipSync({
        "word/document.xml": strToU8(
          `<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>${text}</w:t></w:r></w:p></w:body></w:document>`,
        ),
      });
    const fromDocx = await extract(
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
      xml("a&#xD800;b &#x1F600;"),
    );
    expect(fromDocx.text.isWellFormed()).toBe(true);
    expect(fromDocx.text).toContain("\u{1F600}");
  });

  it("reads DOCX paragraphs, decoding entities", async () => {
    expect(await docxToText(docx(["A & B", "<tag> é"]))).toEqual({ text: "A & B\n<tag> é\n", truncated: false });
    const result = await extract(
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
      docx(["one", "two"]),
    );
    expect(result.text).toBe("one\ntwo");
  });

  it("refuses a DOCX that is not one (unsupported_content), and a zip bomb (file_too_complex)", async () => {
    await rejectsWith(docxToText(new Uint8Array([0x50, 0x4b, 3, 4, 1, 2, 3])), "unsupported_content", /DOCX/);
    await rejectsWith(
      docxToText(zipSync({ "other.xml": new Uint8Array(10) })),
      "unsupported_content",
      /no word\/document.xml/,
    );
    // A text part that is not XML at all is refused at its first errors, not parsed to the end.
    const zeros = zipSync({ "word/document.xml": new Uint8Array(8 * 1024 * 1024) }, { level: 9 });
    await rejectsWith(docxToText(zeros), "unsupported_content", /not XML/);
    // 80 MB of white space compress to a few kilobytes.
    const bomb = zipSync({ "word/document.xml": new Uint8Array(80 * 1024 * 1024).fill(0x20) }, { level: 9 });
    expect(bomb.byteLength).toBeLessThan(200_000);
    await rejectsWith(docxToText(bomb), "file_too_complex", /inflates beyond/);
  });

  it("counts what a DOCX part really inflates to, not what its zip header claims", async () => {
    const bomb = zipSync({ "word/document.xml": new Uint8Array(40 * 1024 * 1024).fill(0x20) }, { level: 9 });
    // The local header's uncompressed size (offset 22) and the central directory's (offset 24
    // after its signature) are set to 1 KiB: a reader trusting them sees a small part.
    const view = new DataView(bomb.buffer, bomb.byteOffset, bomb.byteLength);
    view.setUint32(22, 1024, true);
    for (let at = bomb.length - 22; at >= 0; at -= 1) {
      if (view.getUint32(at, true) === 0x02014b50) {
        view.setUint32(at + 24, 1024, true);
        break;
      }
    }
    await rejectsWith(docxToText(bomb), "file_too_complex", /inflates beyond/);
  });

  it("reads DOCX text in time linear in its size (no backtracking over unclosed tags)", async () => {
    // `<w:t ` never closed: a regular expression that looks for the tag's end from each opening
    // took time growing with the square of their number (10 KB 10 ms, 80 KB 640 ms).
    const unclosed = (n: number) => documentXml(`<w:p><w:r>${"<w:t ".repeat(n)}</w:r></w:p>`);
    await expectLinear((n) => docxToText(unclosed(n)).catch(() => undefined), 8_000);
    const texts = (n: number) => documentXml(`<w:p><w:r>${"<w:t>ab</w:t><w:tab/>".repeat(n)}</w:r></w:p>`);
    await expectLinear((n) => docxToText(texts(n)), 8_000);
    expect((await docxToText(texts(2))).text).toBe("ab\tab\t\n");
  });

  it("reads DOCX text by namespace, not prefix: Strict OOXML and any prefix", async () => {
    const part = (ns: string, prefix: string) =>
      zipSync({
        "word/document.xml": strToU8(
          `<${prefix}:document xmlns:${prefix}="${ns}"><${prefix}:body><${prefix}:p><${prefix}:r><${prefix}:t>strict &amp; sound</${prefix}:t></${prefix}:r></${prefix}:p><x:t xmlns:x="urn:other">not text</x:t></${prefix}:body></${prefix}:document>`,
        ),
      });
    expect((await docxToText(part("http://purl.oclc.org/ooxml/wordprocessingml/main", "w"))).text).toBe(
      "strict & sound\n",
    );
    expect((await docxToText(part(W_NS, "word"))).text).toBe("strict & sound\n");
    expect((await docxToText(documentXml("<w:p><w:r><w:t><![CDATA[a <b> c]]></w:t></w:r></w:p>"))).text).toBe(
      "a <b> c\n",
    );
  });

  it("stops reading a DOCX once it has all the text the index keeps", async () => {
    const long = documentXml(`<w:p><w:r><w:t>${"word ".repeat(MAX_INDEXED_CHARS / 2)}</w:t></w:r></w:p>`);
    const result = await docxToText(long);
    expect(result.truncated).toBe(true);
    expect(result.text.length).toBeGreaterThan(MAX_INDEXED_CHARS);
  });

  it("reads Markdown in time linear in its size, and nested quotes without overflowing the stack", async () => {
    // marked took time quadratic in these runs (64 KB of `a_`: about 8 s) and threw RangeError on
    // quotes nested 30,000 deep, which the pipeline took for a transient failure and retried.
    const nested = (depth: number) => `${"> ".repeat(depth)}deep`;
    expect((await extract("text/markdown", nested(20))).text).toBe("deep");
    await expect(extract("text/markdown", nested(30_000))).resolves.toMatchObject({ truncated: false });
    for (const run of ["a_", "a*", "[a](", "![", "`a"]) {
      await expectLinear((n) => extract("text/markdown", run.repeat(n)), 4_000);
    }
    // Past the parsing bound the source itself is indexed.
    const long = `*${"word ".repeat(MAX_MARKDOWN_PARSE_CHARS / 5)}*`;
    expect((await extract("text/markdown", long)).text.startsWith("*word")).toBe(true);
  });

  it("bounds a PDF's pages, inflated streams and time, failing it as file_too_complex", async () => {
    const bounds = (change: Partial<ExtractionBounds>) => ({ ...DEFAULT_EXTRACTION_BOUNDS, ...change });
    // pdf.js takes (detaches) the bytes it is given: each call gets its own.
    const page = () => pdf(["one page of text"]);
    await rejectsWith(pdfToText(page(), bounds({ maxPages: 0 })), "file_too_complex", /1 pages, more than 0/);
    expect(await pdfToText(page(), bounds({ maxPages: 1 }))).toContain("one page of text");

    // A content stream of 40 MiB of spaces, Flate-compressed to about 40 KB.
    const bomb = flatePdf(new Uint8Array(40 * 1024 * 1024).fill(0x20));
    expect(bomb.byteLength).toBeLessThan(200_000);
    await rejectsWith(pdfToText(bomb), "file_too_complex", /a PDF stream inflates beyond/);
    // Streams that are each small enough but together too much.
    await rejectsWith(
      pdfToText(flatePdf(new Uint8Array(2 * 1024 * 1024).fill(0x20)), bounds({ maxTotalInflatedBytes: 1024 * 1024 })),
      "file_too_complex",
      /inflate beyond 1048576 bytes together/,
    );
    const text = new TextEncoder().encode("BT /F1 12 Tf 72 720 Td (compressed text) Tj ET");
    expect(await pdfToText(flatePdf(text))).toContain("compressed text");

    await rejectsWith(pdfToText(page(), bounds({ maxMilliseconds: -1 })), "file_too_complex", /took longer than/);
  });

  it("checks a PDF's streams in time linear in the file, however many streams it holds", async () => {
    const streams = (n: number) =>
      new TextEncoder().encode(`%PDF-1.4\n${"1 0 obj << >> stream\nx\nendstream\n".repeat(n)}`);
    await expectLinear((n) => checkPdfStreams(streams(n), DEFAULT_EXTRACTION_BOUNDS), 20_000);
  });

  it("fails a damaged PDF as unsupported_content", async () => {
    const junk = new TextEncoder().encode("%PDF-1.7\nnot a pdf at all");
    await rejectsWith(pdfToText(junk), "unsupported_content", /^the PDF could not be read/);
  });

  it("keeps the visible text of HTML only", async () => {
    const html =
      "<html><head><title>T</title><style>.x{}</style></head><body><p>One &amp; two</p><script>steal()</script><ul><li>a</li><li>b&#233;</li></ul>line<br>break</body></html>";
    expect(await htmlToText(html)).not.toContain("steal");
    const result = await extract("text/html", html);
    // Blocks and line breaks separate words; blank lines between blocks may vary.
    expect(result.text.split(/\n+/)).toEqual(["One & two", "a", "bé", "line", "break"]);
  });

  it("reads Markdown as text", async () => {
    const result = await extract("text/markdown", "# Title\n\nSome *emphasis* and `code`.\n\n1. first\n2. second\n");
    expect(result.text.split(/\n+/)).toEqual(["Title", "Some emphasis and code.", "first", "second"]);
  });

  it("bounds what it reads and stores, and says so", async () => {
    const big = "word ".repeat(MAX_TEXT_SOURCE_BYTES / 5 + 100);
    const result = await extract("text/plain", big);
    expect(result.truncated).toBe(true);
    expect(result.text.length).toBeLessThanOrEqual(MAX_INDEXED_CHARS);
    const images = await extract("image/png", new Uint8Array([1, 2, 3]));
    expect(images).toEqual({ text: "", truncated: false });
  });

  it("decodes character references", () => {
    expect(decodeEntities("&lt;a&gt; &amp;amp; &#x1F600; &#65; &nbsp;&unknown; &#0;")).toBe(
      "<a> &amp; 😀 A  &unknown; &#0;",
    );
  });
});
