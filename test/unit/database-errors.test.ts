import { DatabaseError, NeonDbError } from "@neondatabase/serverless";
import { DrizzleQueryError } from "drizzle-orm/errors";
import { describe, expect, it } from "vitest";
import { DatabaseUnreachableError, isDatabaseUnavailable, isInvalidValue } from "../../src/db/errors.ts";
import { ConfigError } from "../../src/pkg/config/config.ts";

/** The server's error as the WebSocket mode builds it from an ErrorResponse: a DatabaseError with the SQLSTATE as `code`. */
function fromServer(code: string): DatabaseError {
  const error = new DatabaseError(`sqlstate ${code}`, 0, "error");
  error.code = code;
  return error;
}
/** The server's error as the HTTP mode builds it from the endpoint's 400: a NeonDbError with the SQLSTATE as `code`. */
function fromHttp(code: string): NeonDbError {
  const error = new NeonDbError(`sqlstate ${code}`);
  error.code = code;
  return error;
}
const query = (cause: unknown) => new DrizzleQueryError("select 1", [], cause as Error);

/** Both modes' errors for one SQLSTATE: wrapped by drizzle, thrown bare, and as the HTTP batch throws it. */
const asThrown = (code: string) => [query(fromServer(code)), fromServer(code), fromHttp(code), query(fromHttp(code))];

describe("isDatabaseUnavailable", () => {
  it.each(["08006", "08001", "57P01", "53300"])("treats SQLSTATE %s as unavailable, in both modes", (code) => {
    // While connecting, the pool throws the server's error bare; an HTTP batch throws it bare too.
    for (const error of asThrown(code)) expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each(["23505", "42P01", "22P02", "40001"])("treats SQLSTATE %s as a statement error, in both modes", (code) => {
    for (const error of asThrown(code)) expect(isDatabaseUnavailable(error)).toBe(false);
  });

  it("treats the HTTP mode's failure to get any answer (a NeonDbError without SQLSTATE) as unavailable", () => {
    const fetchFailed = new NeonDbError("Error connecting to database: TypeError: fetch failed");
    fetchFailed.sourceError = new TypeError("fetch failed");
    expect(isDatabaseUnavailable(fetchFailed)).toBe(true);
    expect(isDatabaseUnavailable(new NeonDbError("Server error (HTTP status 502): bad gateway"))).toBe(true);
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
    for (const error of asThrown(code)) expect(isInvalidValue(error)).toBe(true);
  });

  it.each(["23505", "42P01", "08006", "40001"])("does not treat SQLSTATE %s as one", (code) => {
    for (const error of asThrown(code)) expect(isInvalidValue(error)).toBe(false);
  });

  it("reads the code of the server's error only", () => {
    expect(isInvalidValue(Object.assign(new Error("invalid input"), { code: "22P02" }))).toBe(false);
    expect(isInvalidValue(new Error("22003"))).toBe(false);
  });
});
