import { z } from "zod";
import { createSecretBox, type EncryptionKeys } from "./secret-box.ts";

/** What re-sealing needs of a Postgres client: `pg`'s `Client` and Neon's `Client` both are one. */
export interface SqlClient {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** A column of sealed values: its table, the table's primary key (one column) and the box's purpose. */
export interface SealedColumn {
  table: string;
  key: string;
  column: string;
  purpose: string;
}

/** What `resealColumn` did. `unreadable`: keys of rows no configured key opens (left as they were). */
export interface ResealReport {
  table: string;
  column: string;
  resealed: number;
  unreadable: string[];
}

const Row = z.object({ key: z.string(), sealed: z.string() });
const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

/**
 * Re-seals under `keys.current` every value of `column` sealed under another key (one of
 * `keys.previous`, or sealed before key ids), in batches of `batchSize` rows, each its own
 * transaction acting as the system for row-level security. A batch locks its rows (`for update`),
 * and each update is conditional on the value it read, so a value the platform rewrites meanwhile
 * is never overwritten with an older one. Idempotent: values already under the current key are not
 * even read (their key id is matched in SQL), so running it again, or after an interruption,
 * resumes where the work is left. Throws what the client throws; a value that no key opens is
 * reported, not thrown.
 */
export async function resealColumn(
  client: SqlClient,
  target: SealedColumn,
  keys: EncryptionKeys,
  options: { batchSize?: number; onBatch?: (report: ResealReport) => void } = {},
): Promise<ResealReport> {
  const box = await createSecretBox(keys, target.purpose);
  const batchSize = options.batchSize ?? 500;
  const report: ResealReport = { table: target.table, column: target.column, resealed: 0, unreadable: [] };
  const [table, key, column] = [quote(target.table), quote(target.key), quote(target.column)];
  // Keyset pagination over the primary key: each batch starts past the previous one, so rows that
  // cannot be opened are passed over rather than read again.
  let after: string | undefined;
  for (;;) {
    await client.query("begin");
    try {
      await client.query("select set_config('app.role', 'system', true)");
      // The cursor's type is the key's own (Postgres infers it), so the primary key's index serves.
      const { rows } = await client.query(
        `select ${key}::text as key, ${column} as sealed from ${table}
          where ${column} not like $1 ${after === undefined ? "" : `and ${key} > $3`}
          order by ${key} limit $2 for update`,
        [`%.${box.currentKeyId.replaceAll("_", "\\_")}`, batchSize, ...(after === undefined ? [] : [after])],
      );
      const batch = z.array(Row).parse(rows);
      for (const row of batch) {
        const plaintext = await box.open(row.sealed).catch(() => undefined);
        if (plaintext === undefined) {
          report.unreadable.push(row.key);
          continue;
        }
        await client.query(`update ${table} set ${column} = $1 where ${key} = $2 and ${column} = $3`, [
          await box.seal(plaintext),
          row.key,
          row.sealed,
        ]);
        report.resealed++;
      }
      await client.query("commit");
      options.onBatch?.(report);
      const last = batch.at(-1);
      if (!last || batch.length < batchSize) return report;
      after = last.key;
    } catch (error) {
      await client.query("rollback").catch(() => undefined);
      throw error;
    }
  }
}
