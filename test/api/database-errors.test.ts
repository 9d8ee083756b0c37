import { DatabaseError } from "@neondatabase/serverless";
import { DrizzleQueryError } from "drizzle-orm/errors";
import { describe, expect, it } from "vitest";
import { DatabaseUnreachableError, isDatabaseUnavailable, isInvalidValue } from "../../src/db/errors.ts";
import { ConfigError } from "../../src/pkg/config/config.ts";

/** The server's error as the driver builds it from an ErrorResponse: a DatabaseError with the SQLSTATE as `code`. */
function fromServer(code: string): DatabaseError {
  const error = new DatabaseError(`sqlstate ${code}`, 0, "error");
  error.code = code;
  return error;
}
const query = (cause: unknown) => new DrizzleQueryError("select 1", [], cause as Error);

describe("isDatabaseUnavailable", () => {
  it.each(["08006", "08001", "57P01", "53300"])("treats SQLSTATE %s as unavailable", (code) => {
    expect(isDatabaseUnavailable(query(fromServer(code)))).toBe(true);
    // While connecting, the pool throws the server's error bare.
    expect(isDatabaseUnavailable(fromServer(code))).toBe(true);
  });

  it.each(["23505", "42P01", "22P02", "40001"])("treats SQLSTATE %s as a statement error", (code) => {
    expect(isDatabaseUnavailable(query(fromServer(code)))).toBe(false);
  });

  it("treats a statement the driver could not deliver, or a connection never made, as unavailable", () => {
    expect(isDatabaseUnavailable(query(new Error("Connection terminated unexpectedly")))).toBe(true);
    expect(isDatabaseUnavailable(query(new Event("error")))).toBe(true);
    expect(isDatabaseUnavailable(new DatabaseUnreachableError(new Event("error")))).toBe(true);
  });

  it("classifies by type, never by the words of a message", () => {
    // A malformed SESSION_IDLE_TIMEOUT_SECONDS once made every request a 503 "postgres is unavailable".
    expect(isDatabaseUnavailable(new ConfigError(["SESSION_IDLE_TIMEOUT_SECONDS: too small"]))).toBe(false);
    expect(isDatabaseUnavailable(new Error("connect ECONNREFUSED 127.0.0.1:5432"))).toBe(false);
    expect(isDatabaseUnavailable(new Error("the websocket connection timed out"))).toBe(false);
  });

  it("does not hide our own bugs as outages", () => {
    expect(isDatabaseUnavailable(new TypeError("cannot read properties of undefined"))).toBe(false);
    expect(isDatabaseUnavailable(query(new TypeError("Do not know how to serialize a BigInt")))).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
  });
});

describe("isInvalidValue", () => {
  it.each(["22021", "22008", "22003", "22P02", "22P05", "23514"])("treats SQLSTATE %s as a refused value", (code) => {
    expect(isInvalidValue(query(fromServer(code)))).toBe(true);
  });

  it.each(["23505", "42P01", "08006", "40001"])("does not treat SQLSTATE %s as one", (code) => {
    expect(isInvalidValue(query(fromServer(code)))).toBe(false);
  });

  it("reads the code of the server's error only", () => {
    expect(isInvalidValue(Object.assign(new Error("invalid input"), { code: "22P02" }))).toBe(false);
    expect(isInvalidValue(new Error("22003"))).toBe(false);
  });
});
