import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { rttFromEnv } from "../stack/distance.ts";
import { launchStack } from "../stack/launch.ts";

/**
 * Runs in Node before the tests of each project that lists it (api, processor, node; vitest.config.ts):
 * starts a throwaway local stack (real Postgres with a streaming replica, Redis, S3, clamd) on free
 * ports, plus a second one that tests may take down. The Workers see all of it through bindings, Node tests through `inject`.
 *
 * Vitest runs a project's global setup once per project, so the first project to run it starts the
 * stack and provides it to every project (`vitest.provide`, the root's context that each project's
 * `inject` reads); the others find it there and start nothing. The `unit` project does not list
 * this file: `vitest run --project unit` starts no service.
 *
 * @returns the teardown (stops both stacks) for the project that started them; nothing for the others.
 */
export default async function setup(project: TestProject) {
  const { vitest } = project;
  if (vitest.getProvidedContext().stack) return;
  const root = await mkdtemp(path.join(os.tmpdir(), "techcorp-test-"));
  const stack = await launchStack({
    dataDir: root,
    redis: "required",
    outage: true,
    // A streaming replica of its Postgres, which only test/api/read-replica.test.ts reads from.
    readReplica: true,
    publicUrl: "http://api.test",
    // `STACK_RTT_MS=50 npm test` runs the suite at a distance from the data (stack/distance.ts).
    rttMs: rttFromEnv(process.env.STACK_RTT_MS),
  });

  // Wrangler's config reader looks for the required secrets in the environment and warns when they
  // are absent; the bindings the tests pass carry the same values.
  Object.assign(process.env, stack.env);
  vitest.provide("stack", stack.env);
  vitest.provide("outageStack", stack.outageEnv ?? {});
  vitest.provide("controlUrl", stack.controlUrl ?? "");
  vitest.provide("meterUrl", stack.meterUrl);

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
