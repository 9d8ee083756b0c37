/**
 * Thrown when a write that must change rows changed none. Under row-level security a write the
 * actor may not make does not fail: it matches no row, and the transaction commits as if it had
 * worked. Writes whose effect the caller relies on check their count and throw this instead, so
 * the mistake is a logged 500 that rolls the transaction back, never silent lost work.
 */
export class NoRowsAffectedError extends Error {
  constructor(what: string, expected: number, actual: number) {
    super(`${what}: expected ${expected} row(s) to change, ${actual} did (row-level security or a missing row)`);
    this.name = "NoRowsAffectedError";
  }
}

/** Returns `rows` when exactly `expected` of them came back from `… returning`; throws otherwise. */
export function expectRows<T>(rows: T[], what: string, expected = 1): T[] {
  if (rows.length !== expected) throw new NoRowsAffectedError(what, expected, rows.length);
  return rows;
}
