import { Client } from "@neondatabase/serverless";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { configureDriver, openDatabase } from "../../src/db/client.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { testEnv } from "../helpers.ts";

// @neondatabase/serverless as in production, over WebSockets to stack/neon-proxy.ts.
const config = loadApiConfig(testEnv).database;

describe("@neondatabase/serverless through the local Neon proxy", () => {
  it("reaches the real PostgreSQL server", async () => {
    const handle = openDatabase(config);
    try {
      const result = await handle.db.execute<{ version: string }>(sql`select version()`);
      expect(result.rows[0]?.version).toMatch(/^PostgreSQL 18/);
    } finally {
      await handle.close();
    }
  });

  it("ends a pool cleanly (the proxy hangs up after Terminate)", async () => {
    const handle = openDatabase(config);
    await Promise.all([1, 2, 3].map((n) => handle.db.execute(sql`select ${n}::int as n`)));
    await handle.close();
    await handle.close();
  });

  it("connects and ends a single Client", async () => {
    configureDriver(config);
    const client = new Client(config.url);
    // After a clean close, workerd reports the server's TCP hang-up as an error event on the
    // socket; a Pool listens for it (see openDatabase), a bare Client must too.
    const late: unknown[] = [];
    client.on("error", (error) => late.push(error));
    await client.connect();
    const result = await client.query("select 1 + 1 as two");
    expect(result.rows).toEqual([{ two: 2 }]);
    await client.end();
    expect(late.every((error) => String(error).includes("Network connection lost"))).toBe(true);
  });

  it("rolls a failed transaction back", async () => {
    const handle = openDatabase(config);
    const table = `tx_test_${crypto.randomUUID().replaceAll("-", "")}`;
    try {
      await handle.db.execute(sql.raw(`create table ${table} (n int)`));
      await expect(
        handle.db.transaction(async (tx) => {
          await tx.execute(sql.raw(`insert into ${table} values (1)`));
          throw new Error("abort");
        }),
      ).rejects.toThrow("abort");
      const rows = await handle.db.execute(sql.raw(`select count(*)::int as n from ${table}`));
      expect(rows.rows[0]).toEqual({ n: 0 });
    } finally {
      await handle.db.execute(sql.raw(`drop table if exists ${table}`));
      await handle.close();
    }
  });

  it("scopes transaction-local settings to their transaction (what row-level security relies on)", async () => {
    const handle = openDatabase({ ...config });
    try {
      const inside = await handle.db.transaction(async (tx) => {
        await tx.execute(sql`select set_config('app.user_id', 'user-123', true)`);
        return (await tx.execute<{ v: string }>(sql`select current_setting('app.user_id', true) as v`)).rows[0]?.v;
      });
      expect(inside).toBe("user-123");
      const after = await handle.db.execute<{ v: string | null }>(
        sql`select current_setting('app.user_id', true) as v`,
      );
      expect(after.rows[0]?.v ?? "").toBe("");
    } finally {
      await handle.close();
    }
  });

  it("has pg_trgm available for search", async () => {
    const handle = openDatabase(config);
    try {
      const result = await handle.db.execute<{ name: string }>(
        sql`select name from pg_available_extensions where name = 'pg_trgm'`,
      );
      expect(result.rows).toEqual([{ name: "pg_trgm" }]);
    } finally {
      await handle.close();
    }
  });
});
