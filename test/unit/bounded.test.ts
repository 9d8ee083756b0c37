import { describe, expect, it } from "vitest";
import { forEachBounded } from "../../src/processor/bounded.ts";

/** Runs `forEachBounded` over `weights`, each item holding its place for a few turns of the event loop. */
async function peaks(weights: number[], limits: { concurrency: number; budget?: number }) {
  let running = 0;
  let used = 0;
  let maxRunning = 0;
  let maxUsed = 0;
  const done: number[] = [];
  await forEachBounded(weights, { ...limits, weight: (w) => w }, async (w) => {
    running++;
    used += w;
    maxRunning = Math.max(maxRunning, running);
    maxUsed = Math.max(maxUsed, used);
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 0));
    running--;
    used -= w;
    done.push(w);
  });
  return { maxRunning, maxUsed, done };
}

describe("forEachBounded", () => {
  it("runs every item, never more than `concurrency` at once", async () => {
    const { maxRunning, done } = await peaks([1, 1, 1, 1, 1, 1, 1], { concurrency: 3 });
    expect(maxRunning).toBe(3);
    expect(done).toHaveLength(7);
  });

  it("keeps the weight in flight within the budget; an item heavier than it runs alone", async () => {
    const bounded = await peaks([4, 4, 4, 2, 2], { concurrency: 10, budget: 8 });
    expect(bounded.maxUsed).toBeLessThanOrEqual(8);
    expect(bounded.done).toHaveLength(5);
    const heavy = await peaks([20, 1, 1], { concurrency: 10, budget: 8 });
    expect(heavy.maxRunning).toBe(2);
    expect(heavy.done).toEqual([20, 1, 1]);
  });

  it("resolves at once for no items", async () => {
    await expect(forEachBounded([], { concurrency: 2 }, async () => {})).resolves.toBeUndefined();
  });
});
