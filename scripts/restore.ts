// `npm run restore [-- --id <backup id>] [--create-buckets]` or `-- --list`: restores a backup (the
// newest unless --id) into an EMPTY database and EMPTY documents and thumbnails buckets (made first
// with --create-buckets when they do not exist), and refuses anything else with one line
// (scripts/backup/run.ts). Same settings as `npm run backup`; DATABASE_URL_UNPOOLED must
// be the database's owner role (the restore lifts and puts back forced row-level security).
import { badUsage, integerOption, orUsage, scriptArgs } from "./args.ts";
import { backupStore, backupTarget, explainFailure, scriptEnv } from "./backup/config.ts";
import { RestoreRefused } from "./backup/database.ts";
import { BACKUPS_PREFIX } from "./backup/manifest.ts";
import { listBackups, runRestore } from "./backup/run.ts";

const usage =
  "usage: npm run restore [-- --id <backup id>] [--create-buckets] [--concurrency N] | npm run restore -- --list";
const values = scriptArgs(
  {
    id: { type: "string" },
    list: { type: "boolean", default: false },
    "create-buckets": { type: "boolean", default: false },
    concurrency: { type: "string", default: "8" },
  },
  usage,
);
const concurrency = orUsage(usage, () => integerOption("concurrency", values.concurrency, 1, 64));
if (values.list && (values.id !== undefined || values["create-buckets"]))
  badUsage(usage, `--list restores nothing: it takes no ${values.id !== undefined ? "--id" : "--create-buckets"}`);
const { env, fromDevStack } = scriptEnv();
try {
  if (values.list) {
    const store = backupStore(env);
    const ids = await listBackups(store);
    if (ids.length === 0) console.error(`[restore] no backup in s3://${store.backupBucket}/${BACKUPS_PREFIX}`);
    for (const id of ids) console.log(id);
  } else {
    const { steps } = await runRestore(backupTarget(env), {
      concurrency,
      ...(values.id ? { id: values.id } : {}),
      createBuckets: values["create-buckets"],
      log: (line) => console.log(`[restore] ${line}`),
    });
    console.log(
      `[restore] ${Object.entries(steps)
        .map(([step, ms]) => `${step} ${ms} ms`)
        .join(", ")}`,
    );
  }
} catch (error) {
  console.error(
    error instanceof RestoreRefused
      ? `[restore] refused: ${error.message}`
      : `[restore] failed: ${explainFailure(error, fromDevStack)}`,
  );
  process.exitCode = 1;
}
