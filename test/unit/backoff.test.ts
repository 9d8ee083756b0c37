import { describe, expect, it } from "vitest";
import { BASE_DELAY_SECONDS, MAX_DELAY_SECONDS, retryDelaySeconds } from "../../src/processor/backoff.ts";

describe("retryDelaySeconds", () => {
  it("doubles per attempt within [half, full] of the exponential delay", () => {
    for (let attempts = 1; attempts <= 6; attempts++) {
      const full = BASE_DELAY_SECONDS * 2 ** (attempts - 1);
      expect(retryDelaySeconds(attempts, () => 0)).toBe(full / 2);
      expect(retryDelaySeconds(attempts, () => 1)).toBe(full);
    }
  });

  it("never exceeds the cap", () => {
    expect(retryDelaySeconds(30, () => 1)).toBe(MAX_DELAY_SECONDS);
    expect(retryDelaySeconds(30, () => 0)).toBe(MAX_DELAY_SECONDS / 2);
  });

  it("spreads retries of the same attempt", () => {
    const delays = new Set(Array.from({ length: 50 }, () => retryDelaySeconds(4)));
    expect(delays.size).toBeGreaterThan(1);
  });
});
