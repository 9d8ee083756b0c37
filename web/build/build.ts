import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Rolldown } from "vite";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** Vite's config for the web app and the reference page. */
export const WEB_CONFIG = path.join(ROOT, "web/vite.config.ts");
/** Where they are built: wrangler.toml's `[assets] directory`. */
export const WEB_BUILD = path.join(ROOT, "dist/web");

/**
 * Builds web/ into {@link WEB_BUILD} once, with Vite's command line in a process of its own, so that
 * the caller's NODE_ENV (vitest sets `test`) cannot turn it into a development build. Vite prints
 * only warnings and errors unless `verbose`; throws when the build fails (its errors on stderr).
 */
export function buildWeb(options: { verbose?: boolean } = {}): void {
  execFileSync(
    process.execPath,
    [
      path.join(ROOT, "node_modules/vite/bin/vite.js"),
      "build",
      "--config",
      WEB_CONFIG,
      ...(options.verbose ? [] : ["--logLevel", "warn"]),
    ],
    { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, NODE_ENV: "production" } },
  );
}

/**
 * Builds web/ and rebuilds it whenever one of its files changes (`npm run dev`): resolves once the
 * first build is written, with the watcher to close; rejects when the first build fails. `wrangler
 * dev` serves the new files as they are written.
 */
export async function watchWeb(log: (line: string) => void): Promise<{ close(): Promise<void> }> {
  const watcher = (await build({
    configFile: WEB_CONFIG,
    logLevel: "warn",
    build: { watch: {} },
  })) as Rolldown.RolldownWatcher;
  let first = true;
  await new Promise<void>((resolve, reject) => {
    watcher.on("event", (event) => {
      if (event.code === "BUNDLE_END") void event.result.close();
      if (event.code === "ERROR") {
        void event.result?.close();
        if (first) reject(event.error);
        else log(`web app: the build failed: ${event.error.message}`);
      }
      if (event.code === "END") {
        if (!first) log("web app rebuilt");
        first = false;
        resolve();
      }
    });
  });
  return { close: () => watcher.close() };
}
