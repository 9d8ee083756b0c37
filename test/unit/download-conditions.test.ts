import { describe, expect, it } from "vitest";
import {
  contentDisposition,
  evaluatePreconditions,
  httpDate,
  ifRangeHolds,
  parseEntityTags,
  parseHttpDate,
  parseRange,
  servedContentType,
} from "../../src/documents/download.ts";

const SUNDAY = Date.UTC(1994, 10, 6, 8, 49, 37);

describe("parseHttpDate (RFC 9110 §5.6.7)", () => {
  it("reads the three forms a recipient must accept", () => {
    expect(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT")).toBe(SUNDAY);
    expect(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT")).toBe(SUNDAY);
    expect(parseHttpDate("Sun Nov  6 08:49:37 1994")).toBe(SUNDAY);
    expect(parseHttpDate("Sun, 06 Nov 0094 08:49:37 GMT")).toBe(new Date("0094-11-06T08:49:37Z").getTime());
  });

  it("refuses everything else instead of guessing, and never throws", () => {
    for (const value of [
      "",
      "2",
      "yesterday",
      "1994-11-06T08:49:37Z",
      "Sun, 06 Nov 1994 08:49:37 PST",
      "Sun, 31 Feb 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 24:00:00 GMT",
      "Sun, 06 Nov 1994 08:49:60 GMT",
      "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
      "\u0000\uffff",
    ]) {
      expect(parseHttpDate(value), value).toBeUndefined();
    }
  });

  it("writes IMF-fixdate, truncated to the second", () => {
    expect(httpDate(new Date(SUNDAY + 999))).toBe("Sun, 06 Nov 1994 08:49:37 GMT");
  });
});

describe("parseEntityTags (RFC 9110 §8.8.3)", () => {
  it("reads lists, weak tags, tags containing commas, and *", () => {
    expect(parseEntityTags('"a", W/"b",  "c,d"')).toEqual([
      { weak: false, opaque: '"a"' },
      { weak: true, opaque: '"b"' },
      { weak: false, opaque: '"c,d"' },
    ]);
    expect(parseEntityTags(" * ")).toBe("*");
    expect(parseEntityTags(',,"a",')).toEqual([{ weak: false, opaque: '"a"' }]);
  });

  it("skips members that are not entity tags", () => {
    expect(parseEntityTags('a, "b" c, w/"d", "e"')).toEqual([{ weak: false, opaque: '"e"' }]);
    expect(parseEntityTags('"unterminated')).toEqual([]);
    expect(parseEntityTags("")).toEqual([]);
  });
});

describe("evaluatePreconditions (RFC 9110 §13.2.2)", () => {
  const validators = { etag: '"v1"', lastModified: new Date(SUNDAY + 500) };
  const at = (ms: number) => new Date(ms).toUTCString();

  it("decides as the RFC's order says", () => {
    const cases: [Parameters<typeof evaluatePreconditions>[0], string][] = [
      [{}, "proceed"],
      [{ ifMatch: '"v1"' }, "proceed"],
      [{ ifMatch: "*" }, "proceed"],
      [{ ifMatch: 'W/"v1"' }, "failed"],
      [{ ifMatch: '"v0", "v2"' }, "failed"],
      [{ ifUnmodifiedSince: at(SUNDAY) }, "proceed"],
      [{ ifUnmodifiedSince: at(SUNDAY - 1000) }, "failed"],
      [{ ifUnmodifiedSince: "nonsense" }, "proceed"],
      [{ ifMatch: '"v1"', ifUnmodifiedSince: at(SUNDAY - 1000) }, "proceed"],
      [{ ifNoneMatch: 'W/"v1"' }, "not_modified"],
      [{ ifNoneMatch: '"v0", "v1"' }, "not_modified"],
      [{ ifNoneMatch: "*" }, "not_modified"],
      [{ ifNoneMatch: '"v0"' }, "proceed"],
      [{ ifModifiedSince: at(SUNDAY) }, "not_modified"],
      [{ ifModifiedSince: at(SUNDAY - 1000) }, "proceed"],
      [{ ifModifiedSince: "Sun, 06 Nov 1994" }, "proceed"],
      [{ ifNoneMatch: '"v0"', ifModifiedSince: at(SUNDAY + 60_000) }, "proceed"],
      [{ ifMatch: '"v0"', ifNoneMatch: '"v1"' }, "failed"],
    ];
    for (const [headers, outcome] of cases) {
      expect(evaluatePreconditions(headers, validators), JSON.stringify(headers)).toBe(outcome);
    }
  });

  it("never matches a weak current tag for If-Match, always for If-None-Match", () => {
    const weak = { etag: 'W/"t"', lastModified: new Date(SUNDAY) };
    expect(evaluatePreconditions({ ifMatch: 'W/"t"' }, weak)).toBe("failed");
    expect(evaluatePreconditions({ ifMatch: '"t"' }, weak)).toBe("failed");
    expect(evaluatePreconditions({ ifNoneMatch: '"t"' }, weak)).toBe("not_modified");
  });
});

describe("ifRangeHolds (RFC 9110 §13.1.5)", () => {
  const validators = { etag: '"v1"', lastModified: new Date(SUNDAY + 500) };
  it("holds for the strong ETag, or the exact date when that date is strong", () => {
    expect(ifRangeHolds(undefined, validators, false)).toBe(true);
    expect(ifRangeHolds('"v1"', validators, false)).toBe(true);
    expect(ifRangeHolds('W/"v1"', validators, true)).toBe(false);
    expect(ifRangeHolds('"v1", "v2"', validators, true)).toBe(false);
    expect(ifRangeHolds("Sun, 06 Nov 1994 08:49:37 GMT", validators, true)).toBe(true);
    expect(ifRangeHolds("Sun, 06 Nov 1994 08:49:37 GMT", validators, false)).toBe(false);
    expect(ifRangeHolds("Sun, 06 Nov 1994 08:49:38 GMT", validators, true)).toBe(false);
    expect(ifRangeHolds("bytes=0-1", validators, true)).toBe(false);
  });
});

describe("parseRange beyond the basics", () => {
  it("takes the unit case-insensitively, tolerates white space and empty list elements, never throws", () => {
    expect(parseRange("Bytes=0-9", 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange("bytes = 0-9", 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange("bytes=0-9,", 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange("bytes=, 5-", 100)).toEqual({ start: 5, end: 99 });
    expect(parseRange(`bytes=${"9".repeat(400)}-`, 100)).toBe("unsatisfiable");
    expect(parseRange(`bytes=0-${"9".repeat(400)}`, 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange(`bytes=-${"9".repeat(400)}`, 100)).toEqual({ start: 0, end: 99 });
  });
});

describe("contentDisposition and servedContentType", () => {
  it("percent-encodes every octet outside attr-char in filename* (RFC 8187 §3.2.1)", () => {
    const every = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).join("");
    const header = contentDisposition(`${every}é☃`, "text/plain", "attachment");
    const extended = /; filename\*=UTF-8''(.*)$/.exec(header)?.[1] ?? "";
    expect(extended).toMatch(/^(?:[A-Za-z0-9!#$&+\-.^_`|~]|%[0-9A-F]{2})+$/);
    expect(decodeURIComponent(extended)).toBe(`${every}é☃`);
  });

  it("never throws, even for a name with a lone surrogate", () => {
    expect(contentDisposition("a\ud800b.txt", "text/plain", "attachment")).toBe(
      `attachment; filename="a_b.txt"; filename*=UTF-8''a%EF%BF%BDb.txt`,
    );
  });

  it("keeps %HH out of the ASCII fallback, which some user agents decode (RFC 6266 Appendix D)", () => {
    expect(contentDisposition("100%41 sure %.txt", "text/plain", "attachment")).toBe(
      `attachment; filename="100_41 sure %.txt"; filename*=UTF-8''100%2541%20sure%20%25.txt`,
    );
  });

  it("labels text types as UTF-8 and leaves others alone", () => {
    expect(servedContentType("text/markdown")).toBe("text/markdown; charset=utf-8");
    expect(servedContentType("text/csv")).toBe("text/csv; charset=utf-8");
    expect(servedContentType("image/png")).toBe("image/png");
  });
});
