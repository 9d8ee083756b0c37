import { describe, expect, it } from "vitest";
import { runFailoverDrill } from "../../scripts/drill-failover.ts";

// The failover drill (scripts/drill-failover.ts) on a stack of its own with a streaming replica:
// the primary crashes under writes, the replica is promoted, the API is pointed at it by
// configuration, and it must serve reads and writes. Its figures are printed for CI's log.

describe("the failover drill", () => {
  it("promotes the replica, serves reads and writes from it, and measures what was lost", {
    timeout: 600_000,
  }, async () => {
    const lines: string[] = [];
    const report = await runFailoverDrill({ log: (line) => lines.push(line) });
    console.info(`[failover drill] ${JSON.stringify(report)}`);

    expect(report.after).toMatchObject({ ready: 200, read: 200, write: 201 });
    expect(report.writes.acknowledged).toBeGreaterThan(0);
    // Everything that survived was acknowledged, and the read after the failover lists it (+ the new write).
    expect(report.writes.survived + report.writes.lost).toBe(report.writes.acknowledged);
    expect(report.after.readCount).toBe(Math.min(100, report.writes.survived));
    expect(lines.at(-1)).toMatch(/^failover: detect \d+ ms, in-flight write ended \d+ ms, promote \d+ ms/);
    const { detectMs, drainMs, promoteMs, repointMs, verifyMs, totalMs } = report.timings;
    // The steps follow one another from the crash: the total is their sum (and the gaps between them).
    expect(totalMs).toBeGreaterThanOrEqual(detectMs + drainMs + promoteMs + repointMs + verifyMs);
  });
});
