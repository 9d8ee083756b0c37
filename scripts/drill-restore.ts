// `npm run drill:restore`: the restore drill (scripts/backup/drill.ts) on a throwaway local stack,
// printing its figures: what a backup holds, what was lost (RPO) and how long recovery took (RTO).
// Needs the web build (`npm run build:web`): the API worker serves it as its assets.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { launchStack } from "../stack/launch.ts";
import { describeDrill, runRestoreDrill } from "./backup/drill.ts";

if (!existsSync(path.resolve(import.meta.dirname, "../dist/web"))) {
  console.error("no dist/web: run `npm run build:web` first");
  process.exit(2);
}
const dir = await mkdtemp(path.join(tmpdir(), "restore-drill-"));
const stack = await launchStack({ dataDir: path.join(dir, "stack"), redis: "optional", outage: false });
try {
  const report = await runRestoreDrill({ stack: stack.env, dir, log: (line) => console.log(`[drill] ${line}`) });
  for (const line of describeDrill(report)) console.log(`[drill] ${line}`);
  const same =
    JSON.stringify(report.after.rows) === JSON.stringify(report.before.rows) &&
    JSON.stringify(report.after.objects) === JSON.stringify(report.before.objects) &&
    JSON.stringify(report.after.searchIds) === JSON.stringify(report.before.searchIds) &&
    report.signIns.every((s) => s.status === 200);
  console.log(same ? "[drill] the restored platform matches the backup" : "[drill] MISMATCH: see the figures above");
  if (!same) process.exitCode = 1;
} finally {
  await stack.stop();
  await rm(dir, { recursive: true, force: true });
}
