import { strToU8, zipSync } from "fflate";
import { describe, expect, it } from "vitest";
import {
  decodeEntities,
  docxToText,
  ExtractionError,
  extractText,
  htmlToText,
  MAX_INDEXED_CHARS,
  MAX_TEXT_SOURCE_BYTES,
} from "../../src/documents/extract-text.ts";
import { docx, pdf } from "../fixtures/files.ts";

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
    expect(docxToText(docx(["A & B", "<tag> é"]))).toBe("A & B\n<tag> é\n");
    const result = await extract(
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
      docx(["one", "two"]),
    );
    expect(result.text).toBe("one\ntwo");
  });

  it("refuses a DOCX that is not one, and a zip bomb", async () => {
    expect(() => docxToText(new Uint8Array([0x50, 0x4b, 3, 4, 1, 2, 3]))).toThrow(ExtractionError);
    expect(() => docxToText(zipSync({ "other.xml": new Uint8Array(10) }))).toThrow(/no word\/document.xml/);
    // 80 MB of zeros compress to a few kilobytes.
    const bomb = zipSync({ "word/document.xml": new Uint8Array(80 * 1024 * 1024) }, { level: 9 });
    expect(bomb.byteLength).toBeLessThan(200_000);
    expect(() => docxToText(bomb)).toThrow(/implausibly large/);
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
