import { describe, expect, it } from "vitest";
import { jsonEntityTag, writePreconditionsHold } from "../../src/pkg/http/preconditions.ts";

describe("writePreconditionsHold (RFC 9110 §13.2.2 for a state-changing method)", () => {
  const current = { etag: '"v1"', lastModified: new Date(Date.UTC(2026, 0, 1, 12, 0, 0, 500)) };

  it("decides as the RFC's order says", () => {
    const cases: [Parameters<typeof writePreconditionsHold>[0], boolean][] = [
      [{}, true],
      [{ ifMatch: '"v1"' }, true],
      [{ ifMatch: '"v0", "v1"' }, true],
      [{ ifMatch: "*" }, true],
      [{ ifMatch: 'W/"v1"' }, false],
      [{ ifMatch: '"v0"' }, false],
      [{ ifUnmodifiedSince: "Thu, 01 Jan 2026 12:00:00 GMT" }, true],
      [{ ifUnmodifiedSince: "Thu, 01 Jan 2026 11:59:59 GMT" }, false],
      [{ ifUnmodifiedSince: "yesterday" }, true],
      // If-Match decides alone when present (§13.1.4).
      [{ ifMatch: '"v1"', ifUnmodifiedSince: "Mon, 01 Jan 2001 00:00:00 GMT" }, true],
      // If-None-Match on a write: a match is a 412, never a 304 (§13.1.2).
      [{ ifNoneMatch: "*" }, false],
      [{ ifNoneMatch: 'W/"v1"' }, false],
      [{ ifNoneMatch: '"v0"' }, true],
    ];
    for (const [headers, holds] of cases)
      expect(writePreconditionsHold(headers, current), JSON.stringify(headers)).toBe(holds);
  });

  it("ignores If-Unmodified-Since for a resource without a modification date", () => {
    expect(writePreconditionsHold({ ifUnmodifiedSince: "Mon, 01 Jan 2001 00:00:00 GMT" }, { etag: '"v1"' })).toBe(true);
  });

  it("tags a JSON representation strongly, by its exact serialization", async () => {
    expect(await jsonEntityTag({ a: 1 })).toMatch(/^"[0-9a-f]{32}"$/);
    expect(await jsonEntityTag({ a: 1 })).toBe(await jsonEntityTag({ a: 1 }));
    expect(await jsonEntityTag({ a: 1 })).not.toBe(await jsonEntityTag({ a: 2 }));
  });
});
