import { execFileSync } from "node:child_process";
import path from "node:path";

/**
 * The `api` project's global setup (vitest.config.ts): builds the processor worker into
 * dist/test/processor with `wrangler deploy --dry-run`, so that it runs beside the API worker and
 * end-to-end tests go through the real queue. Throws when the build fails (its errors on stderr).
 */
export default function setup(): void {
  execFileSync(
    process.execPath,
    [
      path.resolve("node_modules/wrangler/bin/wrangler.js"),
      "deploy",
      "--dry-run",
      "--config",
      "workers/processor/wrangler.toml",
      "--outdir",
      path.resolve("dist/test/processor"),
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
}
