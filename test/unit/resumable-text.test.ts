import { describe, expect, it } from "vitest";
import { brokenJoin, edgeFromHex, edgeToHex, textPartEdges } from "../../src/documents/resumable-text.ts";

const utf8 = (text: string) => new TextEncoder().encode(text);
const middle = { first: false, last: false };

// A text cut into parts at every byte: each part passes alone, and the joins are whole characters.
describe("text parts of a resumable upload", () => {
  it("any cut of valid UTF-8 gives parts that pass and joins that hold", () => {
    const text = utf8("a€b😀c ß\nÿ€€😀😀z");
    for (let size = 1; size <= 6; size += 1) {
      const edges = [];
      for (let start = 0; start < text.length; start += size) {
        const part = text.subarray(start, start + size);
        const cut = textPartEdges(part, { first: start === 0, last: start + size >= text.length });
        expect(cut, `part at ${start} of size ${size}`).toBeDefined();
        if (cut) edges.push(cut);
      }
      if (size >= 4) expect(brokenJoin(edges)).toBeUndefined();
    }
  });

  it("a cut character at a file's start or end, a NUL, or bytes that are not UTF-8 are refused", () => {
    const euro = utf8("€");
    expect(textPartEdges(euro.subarray(1), { first: true, last: false })).toBeUndefined();
    expect(textPartEdges(euro.subarray(0, 2), { first: false, last: true })).toBeUndefined();
    expect(textPartEdges(utf8("a\0b"), middle)).toBeUndefined();
    expect(textPartEdges(new Uint8Array([0x61, 0xff, 0x61]), middle)).toBeUndefined();
    expect(textPartEdges(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x61]), middle)).toBeUndefined();
    expect(textPartEdges(new Uint8Array([0x61, 0xc0, 0xaf, 0x61]), middle)).toBeUndefined();
  });

  it("joins of cut bytes that make no character, or bytes that stand alone, are broken", () => {
    const euro = utf8("€");
    const cutEnd = textPartEdges(new Uint8Array([0x61, ...euro.subarray(0, 2)]), middle);
    const plainStart = textPartEdges(utf8("bc"), middle);
    if (!cutEnd || !plainStart) throw new Error("parts refused");
    expect(edgeToHex(cutEnd.trailing)).toBe("e282");
    expect(brokenJoin([cutEnd, plainStart])).toBe(1);
    const cutStart = textPartEdges(new Uint8Array([0xac, 0x62]), middle);
    if (!cutStart) throw new Error("part refused");
    expect(brokenJoin([cutEnd, cutStart])).toBeUndefined();
    expect(edgeFromHex(edgeToHex(cutEnd.trailing))).toEqual(cutEnd.trailing);
  });
});
