import { describe, expect, it } from "vitest";
import { monthStart } from "../../src/db/queries/partitions.ts";
import { expiredMonths } from "../../src/processor/partitions.ts";

const DAY = 24 * 60 * 60 * 1000;
const month = (year: number, index: number) => {
  const from = new Date(Date.UTC(year, index, 1));
  return { name: `p${year}${index + 1}`, from, to: monthStart(from, 1) };
};

describe("which month partitions the retention drops", () => {
  const months = [month(2026, 0), month(2026, 1), month(2026, 2), month(2026, 3)];

  it("drops a month once its newest possible row is older than the retention, not before", () => {
    // 30 days before 2026-04-01T00:00Z is 2026-03-02: January and February are wholly older.
    expect(expiredMonths(months, new Date("2026-04-01T00:00:00Z"), 30 * DAY).map((m) => m.name)).toEqual([
      "p20261",
      "p20262",
    ]);
    // March ends 2026-04-01: its last instant is older than 30 days only from 2026-05-01 on.
    expect(expiredMonths(months, new Date("2026-04-30T23:59:59.999Z"), 30 * DAY).map((m) => m.name)).not.toContain(
      "p20263",
    );
    expect(expiredMonths(months, new Date("2026-05-01T00:00:00Z"), 30 * DAY).map((m) => m.name)).toContain("p20263");
  });

  it("keeps a month holding rows older than the retention while one of its rows may be younger", () => {
    // On 2026-03-20 with 30 days kept, February 1–18 is past the retention, February 19–28 is not.
    expect(expiredMonths(months, new Date("2026-03-20T00:00:00Z"), 30 * DAY).map((m) => m.name)).toEqual(["p20261"]);
  });

  it("counts months in UTC, across the end of a year", () => {
    expect(monthStart(new Date("2026-12-31T23:30:00-02:00"), 0).toISOString()).toBe("2027-01-01T00:00:00.000Z");
    expect(monthStart(new Date("2026-11-15T00:00:00Z"), 3).toISOString()).toBe("2027-02-01T00:00:00.000Z");
  });
});
