import { workerBindings } from "../../stack/bindings.ts";
import { localSecrets } from "../../stack/secrets.ts";

/** An address where nothing listens (the discard port): a unit test that reaches out fails at once. */
const NOWHERE = "127.0.0.1:9";

/**
 * The Miniflare options of the `unit` project's worker (vitest.config.ts), read in Node: the API
 * worker's compatibility date and flags and its wrangler.toml [vars] as deployed, overridden by what
 * the local stack gives the tests (stack/bindings.ts) with every service address pointing at
 * {@link NOWHERE} and fresh secrets. No service is started: unit tests read these only as
 * configuration (e.g. test/unit/config.test.ts), except the queue producers, which Miniflare runs
 * in-process.
 */
export async function unitWorker() {
  // Imported here, not at the top: the config file imports this module for every run, and wrangler
  // takes seconds to load.
  const { unstable_readConfig } = await import("wrangler");
  const api = unstable_readConfig({ config: "wrangler.toml" });
  return {
    compatibilityDate: api.compatibility_date,
    compatibilityFlags: api.compatibility_flags,
    // Wrangler's default rule, which the projects configured from a wrangler.toml get: photon's
    // WebAssembly is imported as a compiled module.
    modulesRules: [{ type: "CompiledWasm" as const, include: ["**/*.wasm"] }],
    // The API worker's queue producers (DOCUMENT_EVENTS), as in wrangler.toml: Miniflare's queues run
    // in-process, so a unit test sends to the local runtime's queue (test/unit/events.test.ts).
    // Nothing consumes them here. (Wrangler's types are not resolved here, hence the annotation.)
    queueProducers: Object.fromEntries(
      (api.queues.producers ?? []).map((producer: { binding: string; queue: string }) => [
        producer.binding,
        producer.queue,
      ]),
    ),
    bindings: {
      ...api.vars,
      ...workerBindings({
        mode: "test",
        databaseUrl: `postgres://techcorp_app:unit@${NOWHERE}/techcorp`,
        directUrl: `postgres://techcorp_app:unit@${NOWHERE}/techcorp`,
        neonProxy: NOWHERE,
        upstash: { url: `http://${NOWHERE}`, token: "unit" },
        s3: { endpoint: `http://${NOWHERE}`, accessKeyId: "unit", secretAccessKey: "unit" },
        publicUrl: "http://api.test",
        clamd: NOWHERE,
        secrets: await localSecrets(),
        oidc: { issuer: `http://${NOWHERE}`, clientSecret: "unit" },
        mail: { host: "127.0.0.1", port: 9, username: "unit", password: "unit", inboxUrl: `http://${NOWHERE}` },
        traces: { url: `http://${NOWHERE}`, tracesEndpoint: `http://${NOWHERE}/v1/traces` },
      }),
    },
  };
}
