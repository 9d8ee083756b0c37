import { describe, expect, it } from "vitest";
import { checkContentType, essence } from "../../src/documents/content-types.ts";
import { contentDisposition, downloadName, parseRange } from "../../src/documents/download.ts";
import { docx, gif, jpeg, pdf, png, webp } from "../fixtures/files.ts";

const head = (bytes: Uint8Array | string) =>
  typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes.subarray(0, 4100);

describe("checkContentType", () => {
  it("accepts each allowed type when the bytes agree", async () => {
    const cases: [string, Uint8Array | string][] = [
      ["application/pdf", pdf(["x"])],
      ["application/vnd.openxmlformats-officedocument.wordprocessingml.document", docx(["x"])],
      ["image/png", png(8, 8)],
      ["image/jpeg", jpeg(8, 8)],
      ["image/gif", gif(8, 8)],
      ["image/webp", webp(8, 8)],
      ["text/plain", "plain ☃ text"],
      ["text/markdown; charset=utf-8", "# title"],
      ["text/html", "<p>hi</p>"],
      ["text/csv", "a,b\n1,2\n"],
    ];
    for (const [type, bytes] of cases) {
      expect(await checkContentType(type, head(bytes)), type).toEqual({ ok: true, type: essence(type) });
    }
  });

  it("refuses disagreement, binary as text, and types not on the list", async () => {
    const refused: [string | undefined, Uint8Array | string][] = [
      ["image/png", jpeg(8, 8)],
      ["application/pdf", png(8, 8)],
      ["text/plain", png(8, 8)],
      ["text/plain", new Uint8Array([0x68, 0x69, 0x00, 0x21])],
      ["text/plain", new Uint8Array([0xff, 0xfe, 0xfd])],
      ["application/zip", docx(["x"])],
      ["image/svg+xml", "<svg/>"],
      [undefined, "text"],
    ];
    for (const [type, bytes] of refused) {
      const result = await checkContentType(type, head(bytes));
      expect(result.ok, String(type)).toBe(false);
    }
  });

  it("infers the type of a file sent as application/octet-stream or without a type", async () => {
    expect(await checkContentType("application/octet-stream", head(png(8, 8)), "x.bin")).toEqual({
      ok: true,
      type: "image/png",
    });
    expect(await checkContentType(undefined, head(pdf(["x"])))).toEqual({ ok: true, type: "application/pdf" });
    expect(await checkContentType("application/octet-stream", head("# Notes"), "notes.MD")).toEqual({
      ok: true,
      type: "text/markdown",
    });
    expect(await checkContentType("", head("a,b"), "data.csv")).toEqual({ ok: true, type: "text/csv" });
    // Text needs a known extension; binary needs an allowed type.
    expect((await checkContentType("application/octet-stream", head("hello"), "run.sh")).ok).toBe(false);
    expect((await checkContentType("application/octet-stream", head("hello"))).ok).toBe(false);
    const zip = head(new Uint8Array([0x50, 0x4b, 0x03, 0x04, ...new Uint8Array(60)]));
    expect((await checkContentType("application/octet-stream", zip, "notes.md")).ok).toBe(false);
    expect((await checkContentType("application/octet-stream", new Uint8Array([0, 1, 2, 3]), "notes.txt")).ok).toBe(
      false,
    );
  });

  it("tolerates a multi-byte character cut at the end of the sample", async () => {
    const sample = new TextEncoder().encode(`${"a".repeat(10)}☃`).subarray(0, 12);
    expect((await checkContentType("text/plain", sample)).ok).toBe(true);
  });
});

describe("parseRange", () => {
  it("reads single ranges and refuses what is outside", () => {
    expect(parseRange("bytes=0-99", 1000)).toEqual({ start: 0, end: 99 });
    expect(parseRange("bytes=900-", 1000)).toEqual({ start: 900, end: 999 });
    expect(parseRange("bytes=-100", 1000)).toEqual({ start: 900, end: 999 });
    expect(parseRange("bytes=-5000", 1000)).toEqual({ start: 0, end: 999 });
    expect(parseRange("bytes=990-5000", 1000)).toEqual({ start: 990, end: 999 });
    expect(parseRange("bytes=1000-", 1000)).toBe("unsatisfiable");
    expect(parseRange("bytes=5-2", 1000)).toBe("unsatisfiable");
    expect(parseRange("bytes=-0", 1000)).toBe("unsatisfiable");
    for (const ignored of [undefined, "", "bytes=0-1,3-4", "items=0-1", "bytes=-", "bytes=a-b"]) {
      expect(parseRange(ignored, 1000), String(ignored)).toBeUndefined();
    }
  });
});

describe("contentDisposition and downloadName", () => {
  it("quotes safely and keeps the UTF-8 name", () => {
    expect(contentDisposition('a "b"\\c.pdf', "application/pdf", "inline")).toBe(
      `inline; filename="a _b__c.pdf"; filename*=UTF-8''a%20%22b%22%5Cc.pdf`,
    );
    expect(contentDisposition("ünï.txt", "text/plain", "attachment")).toBe(
      `attachment; filename="_n_.txt"; filename*=UTF-8''%C3%BCn%C3%AF.txt`,
    );
    // Header injection is impossible: CR and LF are replaced in the ASCII name and encoded in the other.
    expect(contentDisposition("x\r\nSet-Cookie: a=b", "text/plain", "attachment")).not.toMatch(/[\r\n]/);
    expect(contentDisposition("page.html", "text/html", "inline")).toMatch(/^attachment;/);
  });

  it("drops control and bidirectional formatting characters from both names, and dot-only names", () => {
    // U+202E (right-to-left override) shows U+202E "txt.exe" as "exe.txt".
    expect(contentDisposition("\u202Etxt.exe", "text/plain", "attachment")).toBe(
      `attachment; filename="txt.exe"; filename*=UTF-8''txt.exe`,
    );
    expect(contentDisposition("a\r\nb\tc\u007fd\u0085e\u0000.txt", "text/plain", "attachment")).toBe(
      `attachment; filename="abcde.txt"; filename*=UTF-8''abcde.txt`,
    );
    for (const bidi of [
      "\u061c",
      "\u200e",
      "\u200f",
      "\u202a",
      "\u202b",
      "\u202c",
      "\u202d",
      "\u2066",
      "\u2067",
      "\u2068",
      "\u2069",
    ]) {
      expect(contentDisposition(`a${bidi}b.pdf`, "application/pdf", "attachment")).toBe(
        `attachment; filename="ab.pdf"; filename*=UTF-8''ab.pdf`,
      );
    }
    expect(contentDisposition("..", "text/plain", "attachment")).toBe(
      `attachment; filename="download"; filename*=UTF-8''download`,
    );
    // Everything else stays: letters of any script, and zero-width joiners that are no bidi control.
    expect(contentDisposition("Ünï 中文 שלום.txt", "text/plain", "attachment")).toContain(
      `filename*=UTF-8''%C3%9Cn%C3%AF%20%E4%B8%AD%E6%96%87%20%D7%A9%D7%9C%D7%95%D7%9D.txt`,
    );
    expect(downloadName("..", "Report", "text/plain")).toBe("Report.txt");
    expect(downloadName(".", "Report", "text/plain")).toBe("Report.txt");
    expect(downloadName("\u202Egnp.exe", "Report", "image/png")).toBe("gnp.exe");
    expect(downloadName("\r\n", "Re\u202Eport", "text/plain")).toBe("Report.txt");
    expect(downloadName(null, "\u202E", "text/plain")).toBe("download.txt");
  });

  it("names a download after the upload, or the title and type", () => {
    expect(downloadName("scan.pdf", "Title", "application/pdf")).toBe("scan.pdf");
    expect(downloadName(null, "Q3 / Q4", "text/markdown")).toBe("Q3 _ Q4.md");
  });
});
