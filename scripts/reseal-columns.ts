// What `npm run secrets:reseal` (scripts/reseal.ts) re-seals, apart from its command line so that
// tests in workerd can run it too (this module imports nothing of Node's).
import { WEBHOOK_SECRET_PURPOSE } from "../src/notifications/webhook-signature.ts";
import { type ResealReport, resealColumn, type SealedColumn, type SqlClient } from "../src/pkg/crypto/reseal.ts";
import type { EncryptionKeys } from "../src/pkg/crypto/secret-box.ts";

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
