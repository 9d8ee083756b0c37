import { mkdir, mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { freePort } from "../../stack/ports.ts";
import { ROOT, startWranglerDev, waitUntilServing } from "../../stack/wrangler.ts";

/** wrangler dev's output during the browser tests (test-results/ is git-ignored; CI keeps it). */
export const BROWSER_API_LOG = path.join(ROOT, "test-results/browser-api.log");

/**
 * Global setup of the `browser` project (vitest.config.ts), after the stack's: serves the API and
 * the processor in one `wrangler dev` session against the test stack, as `npm run dev` does, so
 * that pages, assets and routing (wrangler.toml `[assets]`, `run_worker_first`) are Cloudflare's
 * asset layer in front of the worker, not a test harness. Provides its address as `apiUrl`; the
 * teardown stops it.
 */
export default async function setup(project: TestProject) {
  const { vitest } = project;
  const env = vitest.getProvidedContext().stack;
  if (!env) throw new Error("the browser project needs the test stack: list test/global-setup.ts before this setup");
  const dir = await mkdtemp(path.join(tmpdir(), "browser-api-"));
  await rm(BROWSER_API_LOG, { force: true });
  await mkdir(path.dirname(BROWSER_API_LOG), { recursive: true });
  const log = await open(BROWSER_API_LOG, "a");
  const api = await startWranglerDev({
    configs: ["wrangler.toml", "workers/processor/wrangler.toml"],
    env,
    envFile: path.join(dir, "stack.env"),
    port: await freePort(),
    inspectorPort: await freePort(),
    persistTo: path.join(dir, "wrangler"),
    output: log.fd,
  });
  const stop = async () => {
    await api.stop();
    await log.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilServing(`${api.url}/health`, api.process, 120_000);
  } catch (error) {
    await stop();
    throw new Error(`wrangler dev did not serve the API (its output: ${BROWSER_API_LOG}): ${String(error)}`);
  }
  vitest.provide("apiUrl", api.url);
  return stop;
}

declare module "vitest" {
  export interface ProvidedContext {
    /** The API (and its pages and assets) served by `wrangler dev` for the browser tests. */
    apiUrl: string;
  }
}
