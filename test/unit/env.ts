import { env } from "cloudflare:test";

/**
 * The unit worker's bindings (test/unit/worker.ts): wrangler.toml's [vars] overridden by the local
 * stack's settings, every address pointing where nothing listens. Configuration only, no service.
 */
export const testEnv = env as unknown as Env;
