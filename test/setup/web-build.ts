import type { TestProject } from "vitest/node";
import { buildWeb } from "../../web/build/build.ts";

/**
 * Global setup of the projects that serve the API worker with its assets (api, node, clients;
 * vitest.config.ts): builds the web app and the reference page into dist/web (wrangler.toml
 * `[assets]`), once for the run: the first project to start builds, the others find it done. Throws
 * when the build fails (Vite's errors on stderr), before any stack is started.
 */
export default function setup(project: TestProject): void {
  const { vitest } = project;
  if (vitest.getProvidedContext().webBuilt) return;
  buildWeb();
  vitest.provide("webBuilt", true);
}

declare module "vitest" {
  export interface ProvidedContext {
    /** Set once dist/web is built for this run (test/setup/web-build.ts). */
    webBuilt: boolean;
  }
}
