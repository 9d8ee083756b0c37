import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";

// What `wrangler deploy` would ship, read the way wrangler reads it. The local runtime ignores
// most of these settings, so this is where a mistake would be caught before deploying
// (OWASP API8:2023, security misconfiguration).
const WORKERS = [
  { name: "api", config: "wrangler.toml" },
  { name: "processor", config: "workers/processor/wrangler.toml" },
] as const;

const read = (config: string) => unstable_readConfig({ config });

describe.each(WORKERS)("the $name worker's production configuration", ({ config }) => {
  it("has no *.workers.dev address and no preview URLs", () => {
    const settings = read(config);
    expect(settings.workers_dev).toBe(false);
    expect(settings.preview_urls).toBe(false);
  });

  it("says production and points at no local stand-in", () => {
    const vars = read(config).vars as Record<string, unknown>;
    expect(vars.ENVIRONMENT).toBe("production");
    expect(vars.NEON_LOCAL_PROXY).toBe("");
    expect(vars.S3_ENDPOINT).toBe("");
  });
});

describe("the API worker's address", () => {
  it("is the custom domain of PUBLIC_URL, so it is reachable without workers.dev", () => {
    const settings = read("wrangler.toml");
    const host = new URL(String((settings.vars as Record<string, unknown>).PUBLIC_URL)).host;
    expect(settings.routes).toEqual([{ pattern: host, custom_domain: true }]);
  });
});
