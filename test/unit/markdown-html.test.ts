import { describe, expect, it } from "vitest";
import { IMAGE_SCHEMES, LINK_SCHEMES, markdownToHtml } from "../../src/documents/convert.ts";
import { safeUrl } from "../../src/documents/markdown-page.ts";
import { expectLinear } from "../fixtures/linear-time.ts";

/** The body of the page Markdown renders to, without the page around it. */
async function body(markdown: string): Promise<string> {
  const page = await markdownToHtml(markdown, "t");
  const start = page.indexOf("<body>\n") + "<body>\n".length;
  return page.slice(start, page.indexOf("</body>"));
}

describe("links and images in Markdown rendered as HTML", () => {
  // Each of these is a live script (or a document of the attacker's) once clicked or loaded; a
  // refused link keeps its text, a refused image its alternative text.
  it.each([
    ["an inline link", "[x](javascript:alert(1))", "<p>x</p>\n"],
    ["a scheme in mixed case", "[x](JaVaScRiPt:alert(1))", "<p>x</p>\n"],
    ["a decimal character reference", "[x](&#106;avascript:alert(1))", "<p>x</p>\n"],
    ["a hexadecimal reference and a named colon", "[x](&#x6A;avascript&colon;alert(1))", "<p>x</p>\n"],
    ["a named tab inside the scheme", "[x](java&Tab;script:alert(1))", "<p>x</p>\n"],
    ["a numeric tab inside the scheme", "[x](java&#x09;script:alert(1))", "<p>x</p>\n"],
    ["a raw tab inside the scheme", "[x](<java\tscript:alert(1)>)", "<p>x</p>\n"],
    ["a line feed reference inside the scheme", "[x](java&NewLine;script:alert(1))", "<p>x</p>\n"],
    ["a control character before the scheme", "[x](&#1;javascript:alert(1))", "<p>x</p>\n"],
    ["vbscript:", "[x](vbscript:msgbox(1))", "<p>x</p>\n"],
    ["a data: document", "[x](data:text/html,<script>alert(1)</script>)", "<p>x</p>\n"],
    ["a reference-style link", "[x][evil]\n\n[evil]: javascript:alert(1)", "<p>x</p>\n"],
    ["an autolink", "<javascript:alert(1)>", "<p>javascript:alert(1)</p>\n"],
    ["an image", '![a "cat" & <dog>](javascript:alert(1) "t")', "<p>a &quot;cat&quot; &amp; &lt;dog&gt;</p>\n"],
    ["a data: image", "![svg](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)", "<p>svg</p>\n"],
    ["a reference-style image", "![cat][img]\n\n[img]: &#106;avascript:alert(1)", "<p>cat</p>\n"],
    ["an image as a link's text", "[![cat](javascript:a)](javascript:b)", "<p>cat</p>\n"],
  ])("refuses %s", async (_, markdown, html) => {
    expect(await body(markdown)).toBe(html);
  });

  it.each([
    ["https", "[x](https://example.com/a?b=1&c=2)", '<p><a href="https://example.com/a?b=1&amp;c=2">x</a></p>\n'],
    ["http", "[x](http://example.com)", '<p><a href="http://example.com">x</a></p>\n'],
    ["mailto", "[x](mailto:ada@example.com)", '<p><a href="mailto:ada@example.com">x</a></p>\n'],
    ["a relative reference", "[x](notes/plan.md#goals)", '<p><a href="notes/plan.md#goals">x</a></p>\n'],
    ["a fragment", "[x](#goals)", '<p><a href="#goals">x</a></p>\n'],
    [
      "a network-path reference (https, as the page)",
      "[x](//example.com/a)",
      '<p><a href="//example.com/a">x</a></p>\n',
    ],
    ["an autolink", "<https://example.com>", '<p><a href="https://example.com">https://example.com</a></p>\n'],
    ["a www autolink", "www.example.com", '<p><a href="http://www.example.com">www.example.com</a></p>\n'],
    ["an email autolink", "ada@example.com", '<p><a href="mailto:ada@example.com">ada@example.com</a></p>\n'],
    [
      "a title, decoded and escaped once",
      '[x](https://example.com "a &amp; \\"b\\" <c>")',
      '<p><a href="https://example.com" title="a &amp; &quot;b&quot; &lt;c&gt;">x</a></p>\n',
    ],
    [
      "quotes and brackets in a URL, percent-encoded",
      "[x](https://example.com/?q=\"\\<b\\>\"&r='s')",
      "<p><a href=\"https://example.com/?q=%22%3Cb%3E%22&amp;r='s'\">x</a></p>\n",
    ],
    [
      "an https image",
      "![cat](https://example.com/cat.png)",
      '<p><img src="https://example.com/cat.png" alt="cat"></p>\n',
    ],
    ["a reference-style link", "[x][ok]\n\n[ok]: https://example.com", '<p><a href="https://example.com">x</a></p>\n'],
  ])("keeps %s", async (_, markdown, html) => {
    expect(await body(markdown)).toBe(html);
  });

  it("allows images only from http and https, links also to mailto", () => {
    expect(safeUrl("mailto:ada@example.com", LINK_SCHEMES)).toBe("mailto:ada@example.com");
    expect(safeUrl("mailto:ada@example.com", IMAGE_SCHEMES)).toBeNull();
    expect(safeUrl("data:image/png;base64,iVBORw0KGgo=", IMAGE_SCHEMES)).toBeNull();
    expect(safeUrl("blob:https://example.com/1", IMAGE_SCHEMES)).toBeNull();
    expect(safeUrl("file:///etc/passwd", LINK_SCHEMES)).toBeNull();
    expect(safeUrl("\u0000 javascript:alert(1)", LINK_SCHEMES)).toBeNull();
    expect(safeUrl("\ud800", LINK_SCHEMES)).toBeNull();
  });
});

describe("rendering cost (OWASP API4:2023)", () => {
  it("overflows no stack on deeply nested quotes (a client's file is never a 500)", async () => {
    await expect(body(`${"> ".repeat(30_000)}deep`)).resolves.toContain("<blockquote>");
  });

  it.each(["a_", "a*", "[a](", "![", "`a", "<a"])("renders runs of %s in time linear in their length", async (run) => {
    await expectLinear((n) => markdownToHtml(run.repeat(n), "t"), 16_000);
  });
});
