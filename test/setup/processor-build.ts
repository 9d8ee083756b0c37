import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Where the processor worker is built: its bundle (index.js) and photon's WebAssembly beside it. */
export const PROCESSOR_BUILD = fileURLToPath(new URL("../../dist/test/processor", import.meta.url));

/**
 * The `api` project's global setup (vitest.config.ts): builds the processor worker into
 * {@link PROCESSOR_BUILD} with `wrangler deploy --dry-run`, so that it runs beside the API worker and
 * end-to-end tests go through the real queue. Throws when the build fails (its errors on stderr).
 */
export default function setup(): void {
  execFileSync(
    process.execPath,
    [
      path.resolve("node_modules/wrangler/bin/wrangler.js"),
      "deploy",
      "--dry-run",
      // The top-level (development) environment, named so wrangler does not warn that none was.
      "--env=",
      "--config",
      "workers/processor/wrangler.toml",
      "--outdir",
      PROCESSOR_BUILD,
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
}
