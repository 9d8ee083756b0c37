import { mkdir, mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { localOAuthClients } from "../../stack/oauth-clients.ts";
import { freePort } from "../../stack/ports.ts";
import { ROOT, startWranglerDev, waitUntilServing } from "../../stack/wrangler.ts";

/** wrangler dev's output during the clients' tests (test-results/ is git-ignored; CI keeps it). */
export const CLIENTS_API_LOG = path.join(ROOT, "test-results/clients-api.log");

/**
 * Every request of these tests comes from 127.0.0.1: the per-address limits are lifted, as the api
 * project lifts them (test/api/rate-limit.test.ts tests the limits themselves).
 */
const LIFTED_LIMITS = JSON.stringify({
  api: [{ name: "burst", limit: 1_000_000, windowSeconds: 10 }],
  auth: [{ name: "burst", limit: 1_000_000, windowSeconds: 10 }],
  token: [{ name: "burst", limit: 1_000_000, windowSeconds: 10 }],
});

/**
 * Global setup of the `clients` project (vitest.config.ts), after the stack's: serves the API and
 * the processor in one `wrangler dev` session against the test stack, as `npm run dev` does, so
 * that pages, assets and routing (wrangler.toml `[assets]`, `run_worker_first`) are Cloudflare's
 * asset layer in front of the worker, not a test harness. Provides its address as `apiUrl`; the
 * teardown stops it.
 */
export default async function setup(project: TestProject) {
  const { vitest } = project;
  const env = vitest.getProvidedContext().stack;
  if (!env) throw new Error("the clients project needs the test stack: list test/global-setup.ts before this setup");
  const dir = await mkdtemp(path.join(tmpdir(), "clients-api-"));
  await rm(CLIENTS_API_LOG, { force: true });
  await mkdir(path.dirname(CLIENTS_API_LOG), { recursive: true });
  const log = await open(CLIENTS_API_LOG, "a");
  const port = await freePort();
  // The session's own address is the API's public one (and the web app's, which mails link to), as
  // under `npm run dev`: the sign-in forms accept posts from it alone (their Origin check), and the
  // web app's sign-in callback is registered there.
  const publicUrl = `http://127.0.0.1:${port}`;
  const api = await startWranglerDev({
    configs: ["wrangler.toml", "workers/processor/wrangler.toml"],
    env: {
      ...env,
      RATE_LIMIT_POLICIES: LIFTED_LIMITS,
      PUBLIC_URL: publicUrl,
      APP_URL: publicUrl,
      OAUTH_CLIENTS: JSON.stringify(localOAuthClients(publicUrl)),
    },
    envFile: path.join(dir, "stack.env"),
    port,
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
    throw new Error(`wrangler dev did not serve the API (its output: ${CLIENTS_API_LOG}): ${String(error)}`);
  }
  vitest.provide("apiUrl", api.url);
  return stop;
}

declare module "vitest" {
  export interface ProvidedContext {
    /** The API (and its pages and assets) served by `wrangler dev` for the clients' tests (browser, SDK, CLI). */
    apiUrl: string;
  }
}
