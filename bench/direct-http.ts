// The benchmark's "direct" baseline for code written against the HTTP mode (HttpDatabase,
// src/db/client.ts): the same drizzle neon-http statements, each batch run as one transaction
// over one open node-postgres connection, so no HTTP, endpoint or pool sits between Node and
// Postgres. Only for measuring: no deadline, no read-only guard beyond `BEGIN READ ONLY`.
import type { NeonQueryFunction } from "@neondatabase/serverless";
import { drizzle } from "drizzle-orm/neon-http";
import pg from "pg";
import type { HttpDatabase } from "../src/db/client.ts";
import * as schema from "../src/db/schema/index.ts";

/** What drizzle's neon-http session hands to `client.transaction`: the built queries. */
interface BuiltQuery {
  text: string;
  params: unknown[];
  arrayMode: boolean;
}

/**
 * Type OIDs drizzle's neon-http driver reads as the server's text (drizzle-orm/neon-http/driver.js:
 * timestamps, dates, intervals and their arrays), so its column mappers see what they would see
 * from Neon.
 */
const TEXT_TYPES = new Set([1184, 1114, 1082, 1186, 1231, 1115, 1185, 1187, 1182]);

const typeParsers = {
  getTypeParser: (oid: number, format?: "text" | "binary") =>
    TEXT_TYPES.has(oid) ? (value: string) => value : pg.types.getTypeParser(oid, format ?? "text"),
};

/** An HttpDatabase over `pool` (which should hold one connection): one transaction per batch. */
export function directHttpDatabase(pool: pg.Pool): HttpDatabase {
  let readOnly = false;
  const client = {
    query: (text: string, params: unknown[], options?: { arrayMode?: boolean }): BuiltQuery => ({
      text,
      params,
      arrayMode: options?.arrayMode ?? false,
    }),
    async transaction(queries: BuiltQuery[]) {
      // Read before the first await: drizzle calls this synchronously inside `batch`.
      const begin = readOnly ? "begin read only" : "begin";
      const connection = await pool.connect();
      try {
        await connection.query(begin);
        const results = [];
        for (const query of queries) {
          const result = await connection.query({
            text: query.text,
            values: query.params,
            types: typeParsers,
            ...(query.arrayMode ? { rowMode: "array" as const } : {}),
          });
          results.push({
            rows: result.rows,
            fields: result.fields,
            rowCount: result.rowCount,
            command: result.command,
          });
        }
        await connection.query("commit");
        return results;
      } catch (error) {
        await connection.query("rollback");
        throw error;
      } finally {
        connection.release();
      }
    },
  };
  const db = drizzle({ client: client as unknown as NeonQueryFunction<false, false>, schema });
  return {
    transaction(build, options = {}) {
      readOnly = options.readOnly ?? false;
      return db.batch(build(db));
    },
  };
}
