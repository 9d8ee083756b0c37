import { describe, expect, it } from "vitest";
import { HIGHLIGHT_START, HIGHLIGHT_STOP } from "../../src/db/queries/search.ts";
import { highlightHtml } from "../../src/search/query-text.ts";

const S = HIGHLIGHT_START;
const E = HIGHLIGHT_STOP;

describe("highlightHtml", () => {
  it("closes every <mark> and drops stray markers, whatever the database returns", () => {
    expect(highlightHtml(`a ${S}b${E} ${E}c ${S}d ${S}e${E}${E} f ${S}`, S, E)).toBe(
      "a <mark>b</mark> c d <mark>e</mark> f",
    );
  });

  it("reads the escaped text back and escapes it once more, so that a cut reference stays text", () => {
    expect(highlightHtml(`&amp;lt;x&gt; amp; &lt ${S}&quot;${E} "`, S, E)).toBe(
      "&amp;lt;x&gt; amp; &amp;lt <mark>&amp;quot;</mark> &quot;",
    );
  });
});
