import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig, defineProject } from "vitest/config";

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
/** Where the global setup builds the processor worker (test/global-setup.ts). */
const PROCESSOR_BUILD = here("./dist/test/processor");

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

export default defineConfig({
  test: {
    globalSetup: ["./test/global-setup.ts"],
    // A safety net, not a speed assertion: the first request of a file also loads the app.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The app's JSON log lines are asserted where they matter (test/api/logging.test.ts); elsewhere
    // they are expected noise from error paths. TEST_LOGS=1 shows them.
    onConsoleLog: (log) => (process.env.TEST_LOGS ? undefined : !log.trimStart().startsWith('{"level"')),
    projects: [
      // Node-side code of the local stack.
      defineProject({ test: { name: "node", environment: "node", include: ["test/node/**/*.test.ts"] } }),
      defineProject({
        resolve,
        test: { name: "api", include: ["test/api/**/*.test.ts"], setupFiles: ["./test/setup/lazy-modules.ts"] },
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
                }),
                OUTAGE_STACK: inject("outageStack"),
                CONTROL_URL: inject("controlUrl"),
              },
              // The processor runs beside the API worker, as in `npm run dev`, so end-to-end tests
              // go through the real queue. It is built by the global setup.
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
        },
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./workers/processor/wrangler.toml" },
            // CONTROL_URL: the webhook receiver of the test stack and the outage controls
            // (stack/control.ts); OUTAGE_STACK: the stack whose services tests freeze.
            miniflare: {
              bindings: { ...inject("stack"), CONTROL_URL: inject("controlUrl"), OUTAGE_STACK: inject("outageStack") },
            },
          })),
        ],
      }),
    ],
  },
});
