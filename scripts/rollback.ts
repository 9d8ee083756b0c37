// `npm run rollback -- --env staging|production [--worker api|processor] [--message TEXT]`: one
// command that puts each worker's previous version back at 100 % (`wrangler rollback`: the version
// deployed before the current deployment). Both workers by default, the processor first (it is
// released second). `--dry-run` prints the commands.
//
// What a rollback does not undo: a Durable Object migration (no version before it can be deployed
// again), database migrations, and the triggers applied by `wrangler triggers deploy` (routes,
// cron schedules, queue consumers' settings), which are the worker's and not a version's: re-run
// `wrangler triggers deploy` from the previous commit if they changed.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { DEPLOYED_ENVIRONMENTS } from "../src/pkg/config/environments.ts";
import { ROOT } from "../stack/wrangler.ts";
import { badUsage, scriptArgs } from "./args.ts";
import { WORKERS } from "./environments.ts";

const usage = `usage: npm run rollback -- --env ${DEPLOYED_ENVIRONMENTS.join("|")} [--worker api|processor] [--message TEXT] [--dry-run]`;
const values = scriptArgs(
  {
    env: { type: "string" },
    worker: { type: "string" },
    message: { type: "string", default: "rollback" },
    "dry-run": { type: "boolean", default: false },
  },
  usage,
);
const environment = values.env ?? "";
const workers = WORKERS.filter(({ worker }) => values.worker === undefined || worker === values.worker).reverse();
if (!(DEPLOYED_ENVIRONMENTS as readonly string[]).includes(environment)) {
  badUsage(usage, `--env must be ${DEPLOYED_ENVIRONMENTS.join(" or ")}${environment ? `, not "${environment}"` : ""}`);
}
if (workers.length === 0) badUsage(usage, `--worker must be api or processor, not "${values.worker}"`);
for (const { config } of workers) {
  const args = ["rollback", "--message", values.message, "--yes", "--config", config, "--env", environment];
  console.log(`$ wrangler ${args.join(" ")}`);
  if (!values["dry-run"]) {
    execFileSync(process.execPath, [path.join(ROOT, "node_modules/wrangler/bin/wrangler.js"), ...args], {
      cwd: ROOT,
      stdio: "inherit",
    });
  }
}
