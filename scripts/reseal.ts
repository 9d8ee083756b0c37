// `npm run secrets:reseal`: re-seals every stored sealed value (TOTP seeds, webhook signing
// secrets) under DATA_ENCRYPTION_KEY, opening them with it or DATA_ENCRYPTION_KEY_PREVIOUS; the
// step of a DATA_ENCRYPTION_KEY rotation between deploying the new key and removing the old one
// (docs/runbook.md, "DATA_ENCRYPTION_KEY"). It talks to DATABASE_URL directly (the primary, not a
// replica), acting as the system for row-level security, in batches of one transaction each.
// Idempotent and resumable: values already under the current key are passed over, so after an
// interruption run it again. OIDC login state is sealed too but lives in a cookie for minutes, so
// nothing stored needs it re-sealed. Exits 1 when a value could be opened by no configured key.
import path from "node:path";
import { parseArgs } from "node:util";
import { WEBHOOK_SECRET_PURPOSE } from "../src/notifications/webhook-signature.ts";
import { type ResealReport, resealColumn, type SealedColumn, type SqlClient } from "../src/pkg/crypto/reseal.ts";
import { type EncryptionKeys, keyId } from "../src/pkg/crypto/secret-box.ts";

/** Every column of sealed values, with the purpose its box derives a key for. */
export const SEALED_COLUMNS: readonly SealedColumn[] = [
  // src/auth/mfa.ts seals with createSecretBox's default purpose.
  { table: "user_mfa", key: "user_id", column: "secret_ciphertext", purpose: "mfa-secret" },
  { table: "webhooks", key: "id", column: "secret_ciphertext", purpose: WEBHOOK_SECRET_PURPOSE },
];

/** Re-seals every column of `SEALED_COLUMNS`; `log` hears one line per batch. */
export async function resealAll(
  client: SqlClient,
  keys: EncryptionKeys,
  options: { batchSize?: number; log?: (line: string) => void } = {},
): Promise<ResealReport[]> {
  const reports: ResealReport[] = [];
  for (const column of SEALED_COLUMNS) {
    const onBatch = (report: ResealReport) =>
      options.log?.(`${report.table}.${report.column}: ${report.resealed} re-sealed so far`);
    reports.push(await resealColumn(client, column, keys, { batchSize: options.batchSize, onBatch }));
  }
  return reports;
}

/** DATA_ENCRYPTION_KEY_PREVIOUS as the config reads it: keys separated by commas. */
export const previousKeys = (value: string | undefined): string[] =>
  (value ?? "")
    .split(",")
    .map((key) => key.trim())
    .filter((key) => key !== "");

if (import.meta.filename === path.resolve(process.argv[1] ?? "")) {
  const { values } = parseArgs({ options: { "batch-size": { type: "string", default: "500" } } });
  const batchSize = Number(values["batch-size"]);
  const { DATABASE_URL: url, DATA_ENCRYPTION_KEY: current } = process.env;
  if (!url || !current || !Number.isInteger(batchSize) || batchSize < 1) {
    console.error(
      "usage: DATABASE_URL=postgres://… DATA_ENCRYPTION_KEY=<new> DATA_ENCRYPTION_KEY_PREVIOUS=<old> npm run secrets:reseal [-- --batch-size 500]",
    );
    process.exit(2);
  }
  const keys = { current, previous: previousKeys(process.env.DATA_ENCRYPTION_KEY_PREVIOUS) };
  console.log(
    `re-sealing under key ${await keyId(current)}; also opening with ${
      keys.previous.length === 0 ? "no previous key" : (await Promise.all(keys.previous.map(keyId))).join(", ")
    }`,
  );
  // Loaded here, not at the top: the functions above are imported by tests that run in workerd.
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const reports = await resealAll(client, keys, { batchSize, log: (line) => console.log(line) });
    for (const { table, column, resealed, unreadable } of reports) {
      console.log(`${table}.${column}: ${resealed} re-sealed, ${unreadable.length} no configured key opens`);
      if (unreadable.length > 0) console.log(`  unreadable (${table} keys): ${unreadable.join(", ")}`);
    }
    if (reports.some((report) => report.unreadable.length > 0)) process.exitCode = 1;
  } finally {
    await client.end();
  }
}
