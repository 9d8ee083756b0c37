import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { API_VARIABLES, PROCESSOR_VARIABLES } from "../../src/pkg/config/config.ts";
import { LOCAL_OAUTH_CLIENTS } from "../../stack/oauth-clients.ts";

// What `wrangler deploy` would ship, read the way wrangler reads it. The local runtime ignores
// most of these settings, so this is where a mistake would be caught before deploying
// (OWASP API8:2023, security misconfiguration).
const WORKERS = [
  { name: "api", config: "wrangler.toml", variables: API_VARIABLES },
  { name: "processor", config: "workers/processor/wrangler.toml", variables: PROCESSOR_VARIABLES },
] as const;

const read = (config: string) => unstable_readConfig({ config });

describe.each(WORKERS)("the $name worker's production configuration", ({ config, variables }) => {
  it("has no *.workers.dev address and no preview URLs", () => {
    const settings = read(config);
    expect(settings.workers_dev).toBe(false);
    expect(settings.preview_urls).toBe(false);
  });

  it("declares every variable the worker reads (wrangler dev drops undeclared ones from env files)", () => {
    const settings = read(config);
    const declared = new Set([...Object.keys(settings.vars), ...(settings.secrets?.required ?? [])]);
    expect(variables.filter((name) => !declared.has(name))).toEqual([]);
  });

  it("says production and points at no local stand-in", () => {
    const vars = read(config).vars as Record<string, unknown>;
    expect(vars.ENVIRONMENT).toBe("production");
    expect(vars.NEON_LOCAL_PROXY).toBe("");
    expect(vars.S3_ENDPOINT).toBe("");
    // The local stack's allowances (http receivers and providers) are declared, and off.
    expect(vars.WEBHOOK_ALLOW_LOCAL_RECEIVERS).toBe("false");
    if (config === "wrangler.toml") expect(vars.OIDC_ALLOW_HTTP).toBe("false");
  });
});

describe("the API worker's address", () => {
  it("is the custom domain of PUBLIC_URL, so it is reachable without workers.dev", () => {
    const settings = read("wrangler.toml");
    const host = new URL(String((settings.vars as Record<string, unknown>).PUBLIC_URL)).host;
    expect(settings.routes).toEqual([{ pattern: host, custom_domain: true }]);
  });
});

describe("the OAuth client registry", () => {
  type Registered = { id: string; grantTypes?: string[]; defaultScopes?: string[] };
  const registries = {
    production: JSON.parse(
      String((read("wrangler.toml").vars as Record<string, unknown>).OAUTH_CLIENTS),
    ) as Registered[],
    local: LOCAL_OAUTH_CLIENTS as Registered[],
  };

  it.each(Object.entries(registries))("%s: each app's default scopes hold read and write", (_, clients) => {
    for (const client of clients) {
      // A client that signs people in acts on their data only within its scopes: the apps need both.
      const signsIn = (client.grantTypes ?? []).some(
        (grant) => grant === "authorization_code" || grant.endsWith(":device_code"),
      );
      if (signsIn) expect(client.defaultScopes, client.id).toEqual(expect.arrayContaining(["openid", "read", "write"]));
    }
  });

  // The unit tests check the local one's scopes are supported ones (test/unit/oauth-clients.test.ts).
  it("is the same locally as in production, redirect URIs aside", () => {
    const shape = (clients: Registered[]) =>
      clients.map(({ id, grantTypes = [], defaultScopes = [] }) => ({ id, grantTypes, defaultScopes }));
    expect(shape(registries.local)).toEqual(shape(registries.production));
  });
});
