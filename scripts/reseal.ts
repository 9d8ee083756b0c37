// `npm run secrets:reseal`: re-seals every stored sealed value (TOTP seeds, webhook signing
// secrets) under DATA_ENCRYPTION_KEY, opening them with it or DATA_ENCRYPTION_KEY_PREVIOUS; the
// step of a DATA_ENCRYPTION_KEY rotation between deploying the new key and removing the old one
// (docs/runbook.md, "DATA_ENCRYPTION_KEY"). It talks to DATABASE_URL directly (the primary, not a
// replica), acting as the system for row-level security, in batches of one transaction each.
// Idempotent and resumable: values already under the current key are passed over, so after an
// interruption run it again. OIDC login state is sealed too but lives in a cookie for minutes, so
// nothing stored needs it re-sealed. Exits 1 when a value could be opened by no configured key.
import path from "node:path";
import { keyId } from "../src/pkg/crypto/secret-box.ts";
import { badUsage, integerOption, orUsage, scriptArgs } from "./args.ts";
import { previousKeys, resealAll } from "./reseal-columns.ts";

if (import.meta.filename === path.resolve(process.argv[1] ?? "")) {
  const usage =
    "usage: DATABASE_URL=postgres://… DATA_ENCRYPTION_KEY=<new> DATA_ENCRYPTION_KEY_PREVIOUS=<old> npm run secrets:reseal [-- --batch-size 500]";
  const values = scriptArgs({ "batch-size": { type: "string", default: "500" } }, usage);
  const batchSize = orUsage(usage, () => integerOption("batch-size", values["batch-size"], 1, 10_000));
  const { DATABASE_URL: url, DATA_ENCRYPTION_KEY: current } = process.env;
  if (!url) badUsage(usage, "DATABASE_URL is not set");
  if (!current) badUsage(usage, "DATA_ENCRYPTION_KEY (the new key) is not set");
  const keys = { current, previous: previousKeys(process.env.DATA_ENCRYPTION_KEY_PREVIOUS) };
  // A key that does not decode is a usage error, before anything is read.
  const idOf = (name: string, key: string) =>
    keyId(key).catch((error: unknown) =>
      badUsage(
        usage,
        `${name} is not a data encryption key: ${error instanceof Error ? error.message : String(error)}`,
      ),
    );
  const currentId = await idOf("DATA_ENCRYPTION_KEY", current);
  const previousIds = await Promise.all(keys.previous.map((key) => idOf("DATA_ENCRYPTION_KEY_PREVIOUS", key)));
  console.log(
    `re-sealing under key ${currentId}; also opening with ${previousIds.length === 0 ? "no previous key" : previousIds.join(", ")}`,
  );
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    const reports = await resealAll(client, keys, { batchSize, log: (line) => console.log(line) });
    for (const { table, column, resealed, unreadable } of reports) {
      console.log(`${table}.${column}: ${resealed} re-sealed, ${unreadable.length} no configured key opens`);
      if (unreadable.length > 0) console.log(`  unreadable (${table} keys): ${unreadable.join(", ")}`);
    }
    if (reports.some((report) => report.unreadable.length > 0)) process.exitCode = 1;
  } catch (error) {
    console.error(`secrets:reseal failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  } finally {
    await client.end().catch(() => {});
  }
}
