// `npm run backup [-- --concurrency 8]`: the database (a snapshot-consistent dump) and every stored
// object (documents and thumbnails buckets, each with its SHA-256) to the backup bucket
// (S3_BACKUP_BUCKET, default techcorp-backups), as scripts/backup/run.ts describes. Connection
// settings as for the other admin scripts: DATABASE_URL_UNPOOLED and S3_* from the environment, or
// the running `npm run dev` stack's .local/stack.env.
import { integerOption, orUsage, scriptArgs } from "./args.ts";
import { backupTarget, explainFailure, scriptEnv } from "./backup/config.ts";
import { runBackup } from "./backup/run.ts";

const usage = "usage: npm run backup [-- --concurrency N]";
const values = scriptArgs({ concurrency: { type: "string", default: "8" } }, usage);
const concurrency = orUsage(usage, () => integerOption("concurrency", values.concurrency, 1, 64));
const { env, fromDevStack } = scriptEnv();
try {
  const { manifest, steps } = await runBackup(backupTarget(env), {
    concurrency,
    log: (line) => console.log(`[backup] ${line}`),
  });
  console.log(
    `[backup] id ${manifest.id}; ${Object.entries(steps)
      .map(([step, ms]) => `${step} ${ms} ms`)
      .join(", ")}`,
  );
} catch (error) {
  console.error(`[backup] failed: ${explainFailure(error, fromDevStack)}`);
  process.exitCode = 1;
}
