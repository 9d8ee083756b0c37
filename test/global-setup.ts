import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { rttFromEnv } from "../stack/distance.ts";
import { launchStack } from "../stack/launch.ts";

/**
 * Runs in Node before any test: starts a throwaway local stack (real Postgres, Redis, S3) on free
 * ports, plus a second one that tests may take down, and builds the processor worker that the API
 * project runs beside the API worker. The Workers see all of it through bindings.
 */
export default async function setup(project: TestProject) {
  const root = await mkdtemp(path.join(os.tmpdir(), "techcorp-test-"));
  const stack = await launchStack({
    dataDir: root,
    redis: "required",
    outage: true,
    publicUrl: "http://api.test",
    // `STACK_RTT_MS=50 npm test` runs the suite at a distance from the data (stack/distance.ts).
    rttMs: rttFromEnv(process.env.STACK_RTT_MS),
  });
  try {
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
  } catch (error) {
    await stack.stop();
    throw error;
  }

  // Wrangler's config reader looks for the required secrets in the environment and warns when they
  // are absent; the bindings the tests pass carry the same values.
  Object.assign(process.env, stack.env);
  project.provide("stack", stack.env);
  project.provide("outageStack", stack.outageEnv ?? {});
  project.provide("controlUrl", stack.controlUrl ?? "");
  project.provide("meterUrl", stack.meterUrl);

  return async () => {
    await stack.stop();
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
    /** The stack's round-trip meter (stack/distance.ts, `startRoundTripServer`). */
    meterUrl: string;
  }
}
