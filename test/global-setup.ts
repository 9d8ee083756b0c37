import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startControlServer } from "../stack/control.ts";
import { startStack } from "../stack/stack.ts";

/**
 * Runs in Node before any test: starts a throwaway local stack (real Postgres, Redis, S3) on free
 * ports, plus a second one that tests may take down, and builds the processor worker that the API
 * project runs beside the API worker. The Workers see all of it through bindings.
 */
export default async function setup(project: TestProject) {
  const root = await mkdtemp(path.join(os.tmpdir(), "techcorp-test-"));
  const stack = await startStack({ dataDir: path.join(root, "main"), mode: "test", redis: "required" });
  const outage = await startStack({
    dataDir: path.join(root, "outage"),
    mode: "test",
    redis: "required",
    neonProxy: stack.neonProxy,
  });
  const control = await startControlServer({ outage });

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
    { stdio: "ignore" },
  );

  project.provide("stack", stack.env);
  project.provide("outageStack", outage.env);
  project.provide("controlUrl", control.url);

  return async () => {
    await control.close();
    await Promise.all([stack.stop(), outage.stop()]);
    await rm(root, { recursive: true, force: true });
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    /** Bindings pointing at the shared test stack. */
    stack: Record<string, string>;
    /** Bindings pointing at a stack that tests stop and start (see stack/control.ts). */
    outageStack: Record<string, string>;
    controlUrl: string;
  }
}
