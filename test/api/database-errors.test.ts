import { DrizzleQueryError } from "drizzle-orm/errors";
import { describe, expect, it } from "vitest";
import { isDatabaseUnavailable } from "../../src/db/errors.ts";

const withCode = (code: string) => Object.assign(new Error(`sqlstate ${code}`), { code });
const query = (cause: unknown) => new DrizzleQueryError("select 1", [], cause as Error);

describe("isDatabaseUnavailable", () => {
  it.each(["08006", "08001", "57P01", "53300"])("treats SQLSTATE %s as unavailable", (code) => {
    expect(isDatabaseUnavailable(query(withCode(code)))).toBe(true);
  });

  it.each(["23505", "42P01", "22P02", "40001"])("treats SQLSTATE %s as a statement error", (code) => {
    expect(isDatabaseUnavailable(query(withCode(code)))).toBe(false);
  });

  it("treats a lost or refused connection as unavailable", () => {
    expect(isDatabaseUnavailable(query(new Error("Connection terminated unexpectedly")))).toBe(true);
    expect(isDatabaseUnavailable(new Error("connect ECONNREFUSED 127.0.0.1:5432"))).toBe(true);
    expect(isDatabaseUnavailable(query(new Event("error")))).toBe(true);
  });

  it("does not hide our own bugs as outages", () => {
    expect(isDatabaseUnavailable(new TypeError("cannot read properties of undefined"))).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
  });
});
