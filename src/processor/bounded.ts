/**
 * Runs `work` for every item with at most `concurrency` at once and, when `weight` is given, at
 * most `budget` units of weight at once (an item heavier than the budget runs alone). Resolves
 * once every item is done; `work` must not throw (each item reports its own failure).
 */
export async function forEachBounded<T>(
  items: readonly T[],
  limits: { concurrency: number; budget?: number; weight?: (item: T) => number },
  work: (item: T) => Promise<void>,
): Promise<void> {
  const budget = limits.budget ?? Number.POSITIVE_INFINITY;
  const weightOf = (item: T) => Math.min(budget, limits.weight?.(item) ?? 0);
  const queue = [...items];
  let running = 0;
  let used = 0;
  await new Promise<void>((resolve) => {
    const next = () => {
      if (queue.length === 0 && running === 0) return resolve();
      while (queue.length > 0 && running < limits.concurrency) {
        const item = queue[0] as T;
        const weight = weightOf(item);
        if (running > 0 && used + weight > budget) return;
        queue.shift();
        running++;
        used += weight;
        const done = () => {
          running--;
          used -= weight;
          next();
        };
        void work(item).then(done, done);
      }
    };
    next();
  });
}
