import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig, defineProject } from "vitest/config";
import { PROCESSOR_BUILD } from "./test/setup/processor-build.ts";
import { unitWorker } from "./test/unit/worker.ts";

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

// Same substitution as the `alias` in the wrangler configs: Workers get the AWS SDK's browser
// build, whose XML parser needs DOMParser (see src/pkg/storage/aws-xml-builder.ts).
const resolve = {
  alias: [
    { find: /^@aws-sdk\/xml-builder$/, replacement: here("./src/pkg/storage/aws-xml-builder.ts") },
    {
      find: /^@aws-sdk\/xml-builder\/dist-es\/(XmlNode|XmlText|xml-parser)\.js$/,
      replacement: here("./node_modules/@aws-sdk/xml-builder/dist-es/$1.js"),
    },
  ],
};

// Mirrors the processor's [[queues.consumers]] in workers/processor/wrangler.toml, with a short
// batch timeout so tests do not wait for batches to fill.
const processorConsumers = {
  "document-events": { maxBatchSize: 10, maxBatchTimeout: 0.05, maxRetries: 5, deadLetterQueue: "document-events-dlq" },
  "document-events-dlq": { maxBatchSize: 10, maxBatchTimeout: 0.05, maxRetries: 10 },
  notifications: { maxBatchSize: 20, maxBatchTimeout: 0.05, maxRetries: 8, deadLetterQueue: "notifications-dlq" },
  "notifications-dlq": { maxBatchSize: 20, maxBatchTimeout: 0.05, maxRetries: 10 },
};
const processorProducers = { DOCUMENT_EVENTS: "document-events", NOTIFICATIONS: "notifications" };

/** Starts the test stack for the projects that list it, once for all of them (test/global-setup.ts). */
const STACK = "./test/global-setup.ts";
/**
 * Builds the web app into dist/web, the API worker's assets (wrangler.toml `[assets]`), once for the
 * projects that serve that worker (test/setup/web-build.ts).
 */
const WEB_BUILD = "./test/setup/web-build.ts";
/**
 * The unit project runs first, alone; the integration projects run together after it, as before.
 * (Not 0: vitest puts a one-worker project of group 0 last.)
 */
const UNIT_FIRST = { groupOrder: 1 };
const AFTER_UNIT = { groupOrder: 2 };
/** The clients project runs last, alone: a wrangler dev session and Chromium would crowd the others. */
const LAST = { groupOrder: 3 };

export default defineConfig({
  test: {
    // A safety net, not a speed assertion: the first request of a file also loads the app.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The app's JSON log lines are asserted where they matter (test/api/logging.test.ts); elsewhere
    // they are expected noise from error paths. TEST_LOGS=1 shows them.
    onConsoleLog: (log) => (process.env.TEST_LOGS ? undefined : !log.trimStart().startsWith('{"level"')),
    projects: [
      // Tests of code that needs no service: no stack, no processor build, a worker whose bindings point
      // at nothing (test/unit/worker.ts). In workerd, not Node: the code under test runs in the
      // Workers runtime in production, and its Web APIs (crypto.subtle, streams) differ from Node's.
      defineProject({
        resolve,
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          setupFiles: ["./test/setup/lazy-modules.ts"],
          sequence: UNIT_FIRST,
          // One file at a time in one worker: the files that compare run times (test/fixtures/linear-time.ts)
          // do not share the cores with each other, and no worker is spawned per file. Nothing here
          // keeps state between files.
          maxWorkers: 1,
          isolate: false,
        },
        plugins: [cloudflareTest(async () => ({ miniflare: await unitWorker() }))],
      }),
      // Node-side code of the local stack.
      defineProject({
        test: {
          name: "node",
          environment: "node",
          include: ["test/node/**/*.test.ts"],
          // The web build first: wrangler (startup-modules, prometheus) needs the assets' directory.
          globalSetup: [WEB_BUILD, STACK],
          sequence: AFTER_UNIT,
        },
      }),
      // The clients, against the API and the processor in one `wrangler dev` session on the test
      // stack, as `npm run dev` runs them (test/setup/clients-api.ts, after the stack's setup, whose
      // bindings it uses): the pages the API worker serves in Debian's Chromium (test/browser/), the
      // SDK and the CLI (test/clients/).
      defineProject({
        test: {
          name: "clients",
          environment: "node",
          include: ["test/browser/**/*.test.ts", "test/clients/**/*.test.ts"],
          globalSetup: [WEB_BUILD, STACK, "./test/setup/clients-api.ts"],
          sequence: LAST,
          // One file, so one Chromium, at a time.
          maxWorkers: 1,
          // axe-core over the whole reference (about a hundred operations) takes 20–40 s on two busy cores.
          testTimeout: 120_000,
        },
      }),
      defineProject({
        resolve,
        test: {
          name: "api",
          include: ["test/api/**/*.test.ts"],
          setupFiles: ["./test/setup/lazy-modules.ts"],
          // The builds first: a failed build starts no stack. The web build is the worker's assets
          // (wrangler.toml [assets], read below): `/` and the pages answer its index.html.
          globalSetup: ["./test/setup/processor-build.ts", WEB_BUILD, STACK],
          sequence: AFTER_UNIT,
        },
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                ...inject("stack"),
                // Every test request comes from the same (unknown) client: lift the limits, except
                // where a test sets its own policies (test/api/rate-limit.test.ts).
                RATE_LIMIT_POLICIES: JSON.stringify({
                  api: [{ name: "burst", limit: 1_000_000, windowSeconds: 10 }],
                  auth: [{ name: "burst", limit: 1_000_000, windowSeconds: 10 }],
                  token: [{ name: "burst", limit: 1_000_000, windowSeconds: 10 }],
                }),
                OUTAGE_STACK: inject("outageStack"),
                CONTROL_URL: inject("controlUrl"),
              },
              // Deployed, the aggregator is the API worker's and the processor binds it; here both use
              // the processor's (above), so that one scrape sees the counts of both workers.
              durableObjects: {
                METRICS_AGGREGATOR: { className: "MetricsAggregator", scriptName: "techcorp-processor" },
              },
              // The processor runs beside the API worker, as in `npm run dev`, so end-to-end tests
              // go through the real queue. It is built by the project's global setup.
              workers: [
                {
                  name: "techcorp-processor",
                  // The bundle, and photon's WebAssembly that it imports as a module beside it.
                  modulesRoot: PROCESSOR_BUILD,
                  modules: [
                    { type: "ESModule", path: path.join(PROCESSOR_BUILD, "index.js") },
                    ...readdirSync(PROCESSOR_BUILD)
                      .filter((file) => file.endsWith(".wasm"))
                      .map((file) => ({ type: "CompiledWasm" as const, path: path.join(PROCESSOR_BUILD, file) })),
                  ],
                  compatibilityDate: "2026-11-01",
                  compatibilityFlags: ["nodejs_compat"],
                  bindings: inject("stack"),
                  queueConsumers: processorConsumers,
                  queueProducers: processorProducers,
                  // The metrics aggregator is hosted here in tests (the processor exports the class
                  // too): the test runner's worker has a name per test file, which no binding can name.
                  durableObjects: { METRICS_AGGREGATOR: { className: "MetricsAggregator", useSQLite: true } },
                },
              ],
            },
          })),
        ],
      }),
      defineProject({
        resolve,
        test: {
          name: "processor",
          include: ["test/processor/**/*.test.ts"],
          setupFiles: ["./test/setup/lazy-modules.ts"],
          globalSetup: [STACK],
          sequence: AFTER_UNIT,
        },
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./workers/processor/wrangler.toml" },
            // CONTROL_URL: the webhook receiver of the test stack and the outage controls
            // (stack/control.ts); OUTAGE_STACK: the stack whose services tests freeze.
            miniflare: {
              bindings: { ...inject("stack"), CONTROL_URL: inject("controlUrl"), OUTAGE_STACK: inject("outageStack") },
              // The metrics aggregator is the API worker's (script_name), which this project does not
              // run: the processor's own export of the class stands in, so its counts can be read here.
              durableObjects: { METRICS_AGGREGATOR: { className: "MetricsAggregator", useSQLite: true } },
            },
          })),
        ],
      }),
    ],
  },
});
