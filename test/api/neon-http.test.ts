import { type FullQueryResults, NeonDbError, neon, neonConfig } from "@neondatabase/serverless";
import { sql as drizzleSql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/neon-http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, testEnv } from "../helpers.ts";

// The unmodified HTTP driver (`neon()`, `transaction()`) against the stack's stand-in for Neon's
// SQL-over-HTTP endpoint (stack/neon-http.ts), inside workerd as in production.
const endpoint = `http://${testEnv.NEON_LOCAL_PROXY}/sql`;
neonConfig.fetchEndpoint = endpoint;
const url = testEnv.DATABASE_URL;
const sql = neon(url);

/** The rejection of `promise`, which must be a NeonDbError. */
async function neonError(promise: Promise<unknown>): Promise<NeonDbError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(NeonDbError);
  return error as NeonDbError;
}

const table = `neon_http_${crypto.randomUUID().replaceAll("-", "")}`;

beforeAll(async () => {
  await sql.query(`create table ${table} (id int primary key, name text not null)`);
});
afterAll(async () => {
  await sql.query(`drop table if exists ${table}`);
});

describe("Neon's HTTP endpoint, locally: queries", () => {
  it("answers a single query with parameters", async () => {
    const rows = await sql`select ${41}::int + 1 as answer, ${"héllo"}::text as greeting`;
    expect(rows).toEqual([{ answer: 42, greeting: "héllo" }]);
  });

  it("sends full results with field type OIDs, command and row count, in array mode", async () => {
    const full = neon(url, { arrayMode: true, fullResults: true });
    const result = (await full`select 1::int as one, 'a'::text as letter`) as FullQueryResults<true>;
    expect(result.rows).toEqual([[1, "a"]]);
    expect(result.command).toBe("SELECT");
    expect(result.rowCount).toBe(1);
    expect(result.rowAsArray).toBe(true);
    expect(result.fields.map((field) => [field.name, field.dataTypeID, field.format])).toEqual([
      ["one", 23, "text"],
      ["letter", 25, "text"],
    ]);
  });

  it("counts the rows a write touched", async () => {
    const full = neon(url, { fullResults: true });
    const inserted = (await full.query(
      `insert into ${table} values (100, 'a'), (101, 'b')`,
    )) as FullQueryResults<false>;
    expect([inserted.command, inserted.rowCount]).toEqual(["INSERT", 2]);
    const deleted = (await full.query(`delete from ${table} where id >= 100`)) as FullQueryResults<false>;
    expect([deleted.command, deleted.rowCount]).toEqual(["DELETE", 2]);
  });

  it("round-trips every column type the schema uses, and NULLs, parsed by the driver from text", async () => {
    const types = `neon_http_types_${crypto.randomUUID().replaceAll("-", "")}`;
    await sql.query(
      `create table ${types} (
        id uuid, t text, v varchar(20), c char(4), i integer, b bigint, flag boolean, r real,
        d double precision, n numeric, at timestamptz, day date, doc jsonb, tags text[],
        words tsvector, raw bytea)`,
    );
    try {
      const id = crypto.randomUUID();
      const at = new Date("2026-11-30T12:34:56.789Z");
      await sql.query(
        `insert into ${types} values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, to_tsvector('english', $15), decode($16, 'hex'))`,
        [
          id,
          'text, "quoted"',
          "varchar",
          "ab",
          -7,
          "9007199254740993",
          true,
          1.5,
          0.1,
          "12345678901234567890.5",
          at,
          "2026-02-28",
          { nested: { list: [1, "two", null] } },
          ["a", "b,c", 'd"e', null],
          "The quick brown foxes",
          "00ff10",
        ],
      );
      await sql.query(`insert into ${types} default values`);
      const rows = await sql.query(`select * from ${types} order by id nulls last`);
      expect(rows).toHaveLength(2);
      const [full, empty] = rows;
      expect(full).toEqual({
        id,
        t: 'text, "quoted"',
        v: "varchar",
        c: "ab  ",
        i: -7,
        // int8 and numeric stay strings (pg-types' defaults, as in production).
        b: "9007199254740993",
        flag: true,
        r: 1.5,
        d: 0.1,
        n: "12345678901234567890.5",
        at,
        day: expect.any(Date),
        doc: { nested: { list: [1, "two", null] } },
        tags: ["a", "b,c", 'd"e', null],
        words: "'brown':3 'fox':4 'quick':2",
        raw: expect.anything(),
      });
      expect(Array.from((full?.raw ?? []) as Uint8Array)).toEqual([0x00, 0xff, 0x10]);
      expect(empty).toEqual(Object.fromEntries(Object.keys(full ?? {}).map((column) => [column, null])));
    } finally {
      await sql.query(`drop table if exists ${types}`);
    }
  });

  it("sends a large result whole (5,000 rows)", async () => {
    const rows = await sql`select g as n, repeat('x', 200) as pad from generate_series(1, 5000) g`;
    expect(rows).toHaveLength(5000);
    expect(rows[4999]).toEqual({ n: 4999 + 1, pad: "x".repeat(200) });
  });
});

describe("Neon's HTTP endpoint, locally: transactions", () => {
  it("runs a batch in one transaction, with the isolation level, read-only and deferrable asked for", async () => {
    const [iso, ro, deferrable, first, second] = await sql.transaction(
      [
        sql`select current_setting('transaction_isolation') as v`,
        sql`select current_setting('transaction_read_only') as v`,
        sql`select current_setting('transaction_deferrable') as v`,
        sql`select now()::text as v`,
        sql`select pg_sleep(0.01), now()::text as v`,
      ],
      { isolationLevel: "Serializable", readOnly: true, deferrable: true },
    );
    expect([iso, ro, deferrable]).toEqual([[{ v: "serializable" }], [{ v: "on" }], [{ v: "on" }]]);
    // now() is the transaction's start: one transaction for the whole batch.
    expect(second?.[0]?.v).toBe(first?.[0]?.v);
  });

  it("defaults to READ COMMITTED, read-write", async () => {
    const [iso, ro] = await sql.transaction([
      sql`select current_setting('transaction_isolation') as v`,
      sql`select current_setting('transaction_read_only') as v`,
    ]);
    expect([iso, ro]).toEqual([[{ v: "read committed" }], [{ v: "off" }]]);
  });

  it("applies per-query arrayMode and fullResults inside a batch", async () => {
    // Each query keeps its own options; the batch's type only knows the function's defaults.
    const queries = [
      sql.query("select 1 as one", [], { arrayMode: true }),
      sql.query("select 2 as two", [], { fullResults: true }),
    ] as unknown as Parameters<typeof sql.transaction>[0];
    const [asArray, full] = await sql.transaction(queries);
    expect(asArray).toEqual([[1]]);
    expect((full as unknown as FullQueryResults<false>).rows).toEqual([{ two: 2 }]);
  });

  it("rolls the whole batch back when one statement fails, and reports the constraint", async () => {
    await sql.query(`insert into ${table} values (1, 'first')`);
    const error = await neonError(
      sql.transaction([
        sql.query(`insert into ${table} values (2, 'second')`),
        sql.query(`insert into ${table} values (1, 'duplicate')`),
      ]),
    );
    expect(error.code).toBe("23505");
    expect(error.constraint).toBe(`${table}_pkey`);
    expect(error.detail).toBe("Key (id)=(1) already exists.");
    expect(error.table).toBe(table);
    const rows = await sql.query(`select id from ${table} order by id`);
    expect(rows).toEqual([{ id: 1 }]);
    await sql.query(`delete from ${table}`);
  });

  it("refuses a write in a read-only transaction", async () => {
    const error = await neonError(
      sql.transaction([sql.query(`insert into ${table} values (3, 'x')`)], { readOnly: true }),
    );
    expect(error.code).toBe("25006");
    expect(await sql.query(`select count(*)::int as n from ${table}`)).toEqual([{ n: 0 }]);
  });

  it("does not hand a transaction left open by a single query to the next request", async () => {
    await sql.query("begin");
    await sql`select set_config('app.neon_http_leak', 'leaked', true)`;
    const [row] = await sql`select coalesce(current_setting('app.neon_http_leak', true), '') as v`;
    expect(row).toEqual({ v: "" });
  });

  it("runs drizzle's neon-http db.batch through it", async () => {
    const db = drizzle({ client: sql });
    const [inserted, counted] = await db.batch([
      db.execute(drizzleSql.raw(`insert into ${table} values (7, 'seven') returning name`)),
      db.execute(drizzleSql.raw(`select count(*)::int as n from ${table}`)),
    ]);
    expect(inserted.rows).toEqual([{ name: "seven" }]);
    expect(counted.rows).toEqual([{ n: 1 }]);
    await sql.query(`delete from ${table}`);
  });
});

describe("Neon's HTTP endpoint, locally: connections", () => {
  it("cancels the statement of a client that went away", async () => {
    const marker = `neon_http_cancel_${crypto.randomUUID().replaceAll("-", "")}`;
    const running = async () =>
      (
        await sql`select count(*)::int as n from pg_stat_activity where state = 'active' and query like ${`%${marker}%`} and query not like '%pg_stat_activity%'`
      )[0]?.n as number;
    const controller = new AbortController();
    const slow = sql.query(`select pg_sleep(60) as ${marker}`, [], { fetchOptions: { signal: controller.signal } });
    const outcome = slow.then(
      () => "answered",
      () => "aborted",
    );
    await eventually(async () => ((await running()) === 1 ? true : undefined));
    controller.abort();
    expect(await outcome).toBe("aborted");
    await eventually(async () => ((await running()) === 0 ? true : undefined), 10_000);
  });

  it("refuses several statements in one query, as the extended protocol does", async () => {
    const error = await neonError(sql.query("select 1; select 2"));
    expect(error.code).toBe("42601");
  });
});

describe("Neon's HTTP endpoint, locally: errors", () => {
  it("reports a syntax error with its SQLSTATE and position", async () => {
    // "fron" reads as a column alias: the error is at "nowhere", the 15th character.
    const error = await neonError(sql.query("select 1 fron nowhere"));
    expect(error.code).toBe("42601");
    expect(error.position).toBe("15");
    expect(error.severity).toBe("ERROR");
    expect(error.message).toMatch(/syntax error/);
  });

  it("refuses wrong credentials as Neon does", async () => {
    const wrong = new URL(url);
    wrong.password = "not-the-password";
    const error = await neonError(neon(wrong.toString())`select 1`);
    expect(error.message).toBe(`password authentication failed for user '${wrong.username}'`);
    const none = new URL(url);
    none.password = "";
    expect((await neonError(neon(none.toString())`select 1`)).message).toMatch(/missing authentication credentials/);
    // The right password still works afterwards.
    expect(await sql`select 1 as ok`).toEqual([{ ok: 1 }]);
  });

  it("reaches only the stack's own Postgres", async () => {
    const other = new URL(url);
    other.port = "1";
    const error = await neonError(neon(other.toString())`select 1`);
    expect(error.message).toMatch(/not reachable/);
    const remote = new URL(url);
    remote.hostname = "192.0.2.1";
    expect((await neonError(neon(remote.toString())`select 1`)).message).toMatch(/not reachable/);
  });

  it("answers a response over 10 MiB with 507, as Neon", async () => {
    const error = await neonError(sql`select repeat('x', 1048576) from generate_series(1, 11)`);
    expect(error.message).toMatch(/HTTP status 507.*response is too large/);
    expect(await sql`select 1 as ok`).toEqual([{ ok: 1 }]);
  });

  it("answers a request over 10 MiB with 413 without reading it all", async () => {
    const res = await fetch(endpoint, {
      method: "POST",
      headers: { "neon-connection-string": url, "neon-raw-text-output": "true" },
      body: JSON.stringify({ query: "select $1::text", params: ["x".repeat(10 * 1024 * 1024)] }),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { message: string }).message).toMatch(/request is too large/);
  });

  it("takes JSON numbers, booleans, arrays and objects as parameters, as Neon converts them", async () => {
    const res = await fetch(endpoint, {
      method: "POST",
      headers: { "neon-connection-string": url, "neon-raw-text-output": "true", "neon-array-mode": "true" },
      body: JSON.stringify({
        query: "select $1::int, $2::bool, $3::text[], $4::jsonb, $5::text",
        params: [7, true, ["a", 'b"c', null, "NULL"], { k: [1] }, null],
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { rows: unknown[][]; rowAsArray: boolean };
    expect(body.rowAsArray).toBe(true);
    expect(body.rows).toEqual([["7", "t", '{a,"b\\"c",NULL,"NULL"}', '{"k": [1]}', null]]);
  });

  it("answers a malformed request with 400 and Neon's error body", async () => {
    const post = (headers: Record<string, string>, body: string) =>
      fetch(endpoint, { method: "POST", headers: { "neon-raw-text-output": "true", ...headers }, body });
    const missing = await post({}, JSON.stringify({ query: "select 1" }));
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ message: "missing connection string", code: "" });
    const isolation = await post(
      { "neon-connection-string": url, "neon-batch-isolation-level": "Chaos" },
      JSON.stringify({ queries: [] }),
    );
    expect(isolation.status).toBe(400);
    const notJson = await post({ "neon-connection-string": url }, "{");
    expect(notJson.status).toBe(400);
    const get = await fetch(endpoint);
    expect(get.status).toBe(405);
  });
});
