// `npm run backup [-- --concurrency 8]`: the database (a snapshot-consistent dump) and every stored
// object (documents and thumbnails buckets, each with its SHA-256) to the backup bucket
// (S3_BACKUP_BUCKET, default techcorp-backups), as scripts/backup/run.ts describes. Connection
// settings as for the other admin scripts: DATABASE_URL_UNPOOLED and S3_* from the environment, or
// the running `npm run dev` stack's .local/stack.env.
import { parseArgs } from "node:util";
import { backupTarget, scriptEnv } from "./backup/config.ts";
import { runBackup } from "./backup/run.ts";

const { values } = parseArgs({ options: { concurrency: { type: "string", default: "8" } } });
const concurrency = Number(values.concurrency);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error("usage: npm run backup [-- --concurrency N]");
  process.exit(2);
}
try {
  const { manifest, steps } = await runBackup(backupTarget(scriptEnv()), {
    concurrency,
    log: (line) => console.log(`[backup] ${line}`),
  });
  console.log(
    `[backup] id ${manifest.id}; ${Object.entries(steps)
      .map(([step, ms]) => `${step} ${ms} ms`)
      .join(", ")}`,
  );
} catch (error) {
  console.error(`[backup] failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
