import { type SQL, sql } from "drizzle-orm";
import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { describe, expect, it } from "vitest";
import { onError } from "../../src/app/error-handler.ts";
import { asActor, SYSTEM } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import { DatabaseUnreachableError, isDatabaseUnavailable, isInvalidValue } from "../../src/db/errors.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { asSystem, expectProblem, testEnv } from "../helpers.ts";

// Errors are told apart by their type (the server's SQLSTATE, error classes), never by the words
// of their message. The errors here are real ones, from the real Postgres of the test stack.

/** The error real Postgres answers `statement` with. */
async function refusal(statement: SQL): Promise<unknown> {
  try {
    await asSystem((tx) => tx.execute(statement));
  } catch (error) {
    return error;
  }
  throw new Error("Postgres accepted the statement");
}

/** What the API's error handler answers for `error`. */
function handled(error: unknown): Promise<Response> {
  const app = new Hono();
  app.use(requestId({ headerName: "X-Request-ID" }));
  app.onError(onError);
  app.get("/", () => {
    throw error;
  });
  return Promise.resolve(app.request("/"));
}

describe("a transaction Postgres rolled back for a concurrent one (SQLSTATE class 40)", () => {
  const raised = (code: string) => sql.raw(`do $$ begin raise exception 'collided' using errcode = '${code}'; end $$`);

  it.each([
    ["a deadlock (40P01)", "40P01"],
    ["a serialization failure (40001)", "40001"],
  ])("%s is a 503 to retry, not a 500", async (_, code) => {
    const error = await refusal(raised(code));
    const res = await handled(error);
    const problem = await expectProblem(res, 503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(problem.detail).toMatch(/nothing was changed/);
  });
});

describe("values Postgres refuses (SQLSTATE class 22), as a second lock behind the schemas", () => {
  const refused: [string, SQL][] = [
    ["NUL in text (22021)", sql`select ${"a\u0000b"}::text`],
    ["an impossible date (22008)", sql`select ${"2026-02-30 00:00:00+00"}::timestamptz`],
    ["an integer above int4 (22003)", sql`select ${"2147483648"}::int4`],
    ["a real that underflows (22003)", sql`select ${"1e-50000"}::real`],
    ["an unpaired surrogate in jsonb (22P02)", sql`select ${'{"k": "\\ud800"}'}::jsonb`],
  ];

  it.each(refused)("%s is a 400 without the database's words", async (_, statement) => {
    const error = await refusal(statement);
    expect(isInvalidValue(error)).toBe(true);
    expect(isDatabaseUnavailable(error)).toBe(false);
    const res = await handled(error);
    const problem = await expectProblem(res, 400);
    expect(problem.type).toBe("/problems/bad_request");
    expect(JSON.stringify(problem)).not.toMatch(/select|sqlstate|invalid|out of range|byte sequence|::/i);
  });

  it("a statement error that is ours stays a 500", async () => {
    const error = await refusal(sql`select * from no_such_table`);
    expect(isInvalidValue(error)).toBe(false);
    const problem = await expectProblem(await handled(error), 500);
    expect(problem.type).toBe("/problems/internal_error");
  });
});

describe("an unreachable database", () => {
  it("is recognised by type when no connection can be made, and answers 503", async () => {
    const config = loadApiConfig(testEnv).database;
    // A port no Postgres of the stack listens on: the local Neon proxy refuses to relay there.
    const handle = openDatabase({ ...config, url: config.url.replace(/:(\d+)\//, ":9/") });
    let failure: unknown;
    try {
      await asActor(handle.db, SYSTEM, (tx) => tx.execute(sql`select 1`));
    } catch (error) {
      failure = error;
    } finally {
      await handle.close().catch(() => {});
    }
    expect(isDatabaseUnavailable(failure)).toBe(true);
    const problem = await expectProblem(await handled(failure), 503);
    expect(problem.detail).toBe("postgres is unavailable; nothing was changed. Retry later.");
  });

  it("is never inferred from a message that merely mentions a connection or a timeout", async () => {
    for (const error of [new Error("connect ECONNREFUSED 127.0.0.1:5432"), new Error("socket timeout")]) {
      expect(isDatabaseUnavailable(error)).toBe(false);
      await expectProblem(await handled(error), 500);
    }
    expect(isDatabaseUnavailable(new DatabaseUnreachableError(new Event("error")))).toBe(true);
  });
});
