import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { environmentProblems } from "../../scripts/environments.ts";
import { API_VARIABLES, loadApiConfig, loadProcessorConfig, PROCESSOR_VARIABLES } from "../../src/pkg/config/config.ts";
import { DEPLOYED_ENVIRONMENTS } from "../../src/pkg/config/environments.ts";
import { LOCAL_OAUTH_CLIENTS } from "../../stack/oauth-clients.ts";

// What `wrangler deploy` would ship, read the way wrangler reads it. The local runtime ignores
// most of these settings, so this is where a mistake would be caught before deploying
// (OWASP API8:2023, security misconfiguration).
const WORKERS = [
  { name: "api", config: "wrangler.toml", variables: API_VARIABLES },
  { name: "processor", config: "workers/processor/wrangler.toml", variables: PROCESSOR_VARIABLES },
] as const;

const read = (config: string, env?: string) => unstable_readConfig({ config, env });
const ENVIRONMENTS = DEPLOYED_ENVIRONMENTS.flatMap((environment) =>
  WORKERS.map((worker) => ({ ...worker, environment })),
);

describe.each(ENVIRONMENTS)("the $name worker's $environment configuration", ({ config, variables, environment }) => {
  it("has no *.workers.dev address and no preview URLs", () => {
    const settings = read(config, environment);
    expect(settings.workers_dev).toBe(false);
    expect(settings.preview_urls).toBe(false);
  });

  it("declares every variable the worker reads (wrangler dev drops undeclared ones from env files)", () => {
    const settings = read(config, environment);
    const declared = new Set([...Object.keys(settings.vars), ...(settings.secrets?.required ?? [])]);
    expect(variables.filter((name) => !declared.has(name))).toEqual([]);
  });

  it("says its environment and points at no local stand-in", () => {
    const vars = read(config, environment).vars as Record<string, unknown>;
    expect(vars.ENVIRONMENT).toBe(environment);
    expect(vars.NEON_LOCAL_PROXY).toBe("");
    // The local stack's allowances (http receivers and providers) are declared, and off.
    expect(vars.WEBHOOK_ALLOW_LOCAL_RECEIVERS).toBe("false");
    if (config === "wrangler.toml") expect(vars.OIDC_ALLOW_HTTP).toBe("false");
  });

  it("is a configuration the worker accepts, with its secrets set", () => {
    const vars = read(config, environment).vars as Record<string, string>;
    // What `wrangler secret put` would give it: the database at the environment's own host.
    const secrets = {
      DATABASE_URL: `postgres://app:secret@${vars.DATABASE_HOST}/techcorp?sslmode=require`,
      S3_ACCESS_KEY_ID: "key",
      S3_SECRET_ACCESS_KEY: "secret",
      DATA_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString("base64"),
      UPSTASH_REDIS_REST_TOKEN: "token",
      JWT_SIGNING_KEYS: JSON.stringify([{ kty: "EC", crv: "P-256", kid: "k1", x: "x", y: "y", d: "d" }]),
      OAUTH_CLIENT_SECRETS: JSON.stringify({ "techcorp-resource-server": "s".repeat(32) }),
      SMTP_USERNAME: "mailer",
      SMTP_PASSWORD: "password",
    };
    const load = config === "wrangler.toml" ? loadApiConfig : loadProcessorConfig;
    expect(load({ ...vars, ...secrets }).environment).toBe(environment);
    // The other environment's database: refused.
    const other = DEPLOYED_ENVIRONMENTS.find((name) => name !== environment);
    const otherHost = (read(config, other).vars as Record<string, string>).DATABASE_HOST;
    expect(() => load({ ...vars, ...secrets, DATABASE_URL: `postgres://app:secret@${otherHost}/techcorp` })).toThrow(
      "DATABASE_URL: its host is not DATABASE_HOST",
    );
  });
});

describe("the environments", () => {
  it("are what npm run environments writes, and share no worker, route, queue, bucket or database", () => {
    expect(environmentProblems()).toEqual([]);
  });
});

describe.each(DEPLOYED_ENVIRONMENTS)("the API worker's %s address", (environment) => {
  it("is the custom domain of PUBLIC_URL, so it is reachable without workers.dev", () => {
    const settings = read("wrangler.toml", environment);
    const host = new URL(String((settings.vars as Record<string, unknown>).PUBLIC_URL)).host;
    expect(settings.routes).toEqual([{ pattern: host, custom_domain: true }]);
  });
});

describe("the OAuth client registry", () => {
  type Registered = { id: string; grantTypes?: string[]; defaultScopes?: string[] };
  const registries = {
    production: JSON.parse(
      String((read("wrangler.toml", "production").vars as Record<string, unknown>).OAUTH_CLIENTS),
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
