/** First retry after 10 s, doubling per attempt, never more than 15 minutes. */
export const BASE_DELAY_SECONDS = 10;
export const MAX_DELAY_SECONDS = 15 * 60;

/**
 * Delay before redelivering a message that failed on its `attempts`-th delivery (1-based), with
 * "full jitter" in the upper half so a burst of failures does not come back in lockstep.
 */
export function retryDelaySeconds(attempts: number, random: () => number = Math.random): number {
  const exponential = Math.min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** Math.max(0, attempts - 1));
  return Math.ceil(exponential / 2 + random() * (exponential / 2));
}
