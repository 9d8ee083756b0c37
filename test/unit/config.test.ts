import { describe, expect, it } from "vitest";
import { ConfigError, loadApiConfig, loadProcessorConfig } from "../../src/pkg/config/config.ts";
import { testEnv } from "./env.ts";

const valid = () => ({ ...testEnv }) as Record<string, unknown>;

function problemsOf(env: Record<string, unknown>): string[] {
  try {
    loadApiConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("configuration was accepted");
}

describe("configuration", () => {
  it("parses the test bindings into typed settings", () => {
    const config = loadApiConfig(valid());
    expect(config.environment).toBe("test");
    expect(config.storage.forcePathStyle).toBe(true);
    expect(config.uploads.maxBytes).toBe(104857600);
    expect(config.cache?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("parses a bindings object once", () => {
    const env = valid();
    expect(loadApiConfig(env)).toBe(loadApiConfig(env));
  });

  it("names a missing secret", () => {
    const env = valid();
    delete env.DATABASE_URL;
    expect(problemsOf(env)).toEqual([expect.stringMatching(/^DATABASE_URL: /)]);
  });

  it("names each malformed variable, never its value", () => {
    const problems = problemsOf({
      ...valid(),
      DATABASE_URL: "mysql://user:hunter2@db/app",
      S3_FORCE_PATH_STYLE: "yes",
      MAX_UPLOAD_BYTES: "-5",
    });
    expect(problems.map((p) => p.split(":")[0]).sort()).toEqual([
      "DATABASE_URL",
      "MAX_UPLOAD_BYTES",
      "S3_FORCE_PATH_STYLE",
    ]);
    expect(problems.join(" ")).not.toContain("hunter2");
  });

  it("reads DATA_ENCRYPTION_KEY_PREVIOUS as a comma-separated list of keys that open only", () => {
    const current = btoa("c".repeat(32));
    const [old, older] = [btoa("o".repeat(32)), btoa("p".repeat(32))];
    const base = { ...valid(), DATA_ENCRYPTION_KEY: current };
    expect(loadApiConfig({ ...base, DATA_ENCRYPTION_KEY_PREVIOUS: "" }).encryptionKey).toEqual({
      current,
      previous: [],
    });
    expect(loadApiConfig({ ...base, DATA_ENCRYPTION_KEY_PREVIOUS: ` ${old}, ${older}` }).encryptionKey).toEqual({
      current,
      previous: [old, older],
    });
    expect(problemsOf({ ...base, DATA_ENCRYPTION_KEY_PREVIOUS: `${old},${btoa("short")}` })).toEqual([
      expect.stringMatching(/^DATA_ENCRYPTION_KEY_PREVIOUS\.1: expected 32 bytes/),
    ]);
  });

  it("requires the cache token with the cache URL", () => {
    expect(problemsOf({ ...valid(), UPSTASH_REDIS_REST_TOKEN: "" })).toEqual([
      "UPSTASH_REDIS_REST_TOKEN: required with UPSTASH_REDIS_REST_URL",
    ]);
  });

  it("lets development run without a cache but not production", () => {
    const noCache = { ...valid(), UPSTASH_REDIS_REST_URL: "", UPSTASH_REDIS_REST_TOKEN: "" };
    expect(loadApiConfig(noCache).cache).toBeUndefined();
    // Without the test stack's local allowances (http receivers and OpenID issuers), which
    // production refuses on their own (test/api/notifications.test.ts).
    const local = { WEBHOOK_ALLOW_LOCAL_RECEIVERS: "false", OIDC_ALLOW_HTTP: "false", OIDC_PROVIDERS: "[]" };
    const problems = problemsOf({
      ...noCache,
      ...local,
      ENVIRONMENT: "production",
      DATABASE_HOST: new URL(testEnv.DATABASE_URL).hostname,
      NEON_LOCAL_PROXY: "",
      S3_ENDPOINT: "",
    });
    expect(problems.map((p) => p.split(":")[0]).sort()).toEqual(["S3_ENDPOINT", "UPSTASH_REDIS_REST_URL"]);
  });

  it("refuses the local Neon proxy in production", () => {
    expect(problemsOf({ ...valid(), ENVIRONMENT: "production" })).toContain(
      "NEON_LOCAL_PROXY: must not be set in production",
    );
  });

  it("gives the processor only what it needs", () => {
    const env = valid();
    delete env.UPSTASH_REDIS_REST_URL;
    delete env.MAX_UPLOAD_BYTES;
    expect(loadProcessorConfig(env).database.url).toBe(testEnv.DATABASE_URL);
  });
});

describe("JSON-valued configuration", () => {
  it("names a variable that is not valid JSON, without its value", () => {
    expect(problemsOf({ ...valid(), JWT_SIGNING_KEYS: "[{oops" })).toEqual(["JWT_SIGNING_KEYS: not valid JSON"]);
  });

  it("accepts a TOML table as well as a JSON string", () => {
    const policies = { api: [{ name: "burst", limit: 5, windowSeconds: 1 }] };
    expect(loadApiConfig({ ...valid(), RATE_LIMIT_POLICIES: policies }).gateway.rateLimitPolicies).toEqual(policies);
    expect(
      loadApiConfig({ ...valid(), RATE_LIMIT_POLICIES: JSON.stringify(policies) }).gateway.rateLimitPolicies,
    ).toEqual(policies);
  });
});
