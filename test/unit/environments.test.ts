import { describe, expect, it } from "vitest";
import { ConfigError, loadApiConfig, loadProcessorConfig } from "../../src/pkg/config/config.ts";
import { bucketOwner, isDeployed, resourcesOf } from "../../src/pkg/config/environments.ts";
import { testEnv } from "./env.ts";

const local = () => ({ ...testEnv }) as Record<string, unknown>;
const localHost = () => new URL(testEnv.DATABASE_URL).hostname;

/**
 * The test bindings made into a deployed environment's, as far as the configuration can tell:
 * without the local allowances, at the environment's own buckets and database host.
 */
function deployed(environment: "staging" | "production"): Record<string, unknown> {
  const resources = resourcesOf(environment);
  return {
    ...local(),
    ENVIRONMENT: environment,
    NEON_LOCAL_PROXY: "",
    WEBHOOK_ALLOW_LOCAL_RECEIVERS: "false",
    OIDC_ALLOW_HTTP: "false",
    OIDC_PROVIDERS: "[]",
    OIDC_CLIENT_SECRETS: "",
    OAUTH_CLIENTS: "",
    SMTP_SECURITY: "starttls",
    S3_BUCKET: resources.documentsBucket,
    S3_THUMBNAILS_BUCKET: resources.thumbnailsBucket,
    DATABASE_HOST: localHost(),
  };
}

function problemsOf(load: (env: object) => unknown, env: Record<string, unknown>): string[] {
  try {
    load(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("the deployed environments' names", () => {
  it("carry the environment's name, a dead-letter queue its source's and -dlq", () => {
    const staging = resourcesOf("staging");
    expect(staging.apiWorker).toBe("techcorp-api-staging");
    expect(staging.documentsBucket).toBe("techcorp-documents-staging");
    expect(staging.queues.documentEventsDeadLetter).toBe(`${staging.queues.documentEvents}-dlq`);
    // The processor tells its queues apart by these (workers/processor/index.ts).
    expect(staging.queues.notifications.startsWith("notifications")).toBe(true);
    expect(staging.queues.notificationsDeadLetter.endsWith("-dlq")).toBe(true);
    expect(staging.queues.documentEvents.startsWith("notifications")).toBe(false);
  });

  it("are never another environment's", () => {
    const [staging, production] = [resourcesOf("staging"), resourcesOf("production")];
    const names = (resources: typeof staging) => [
      resources.apiWorker,
      resources.processorWorker,
      resources.documentsBucket,
      resources.thumbnailsBucket,
      ...Object.values(resources.queues),
    ];
    expect(names(staging).filter((name) => names(production).includes(name))).toEqual([]);
    expect(bucketOwner(production.thumbnailsBucket)).toBe("production");
    expect(bucketOwner("techcorp-documents")).toBeUndefined();
    expect([isDeployed("staging"), isDeployed("production"), isDeployed("development"), isDeployed("test")]).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });
});

describe.each([
  ["API", loadApiConfig],
  ["processor", loadProcessorConfig],
] as const)("the %s configuration", (_, load) => {
  it.each(["staging", "production"] as const)("accepts %s at its own buckets and database host", (environment) => {
    const env = deployed(environment);
    if (load === loadProcessorConfig) Object.assign(env, { SMTP_HOST: "smtp.example.com", MAIL_FROM: "a@example.com" });
    expect(problemsOf(load, env)).toEqual([]);
  });

  it("refuses staging at production's buckets, and production at staging's", () => {
    const production = resourcesOf("production");
    const staging = resourcesOf("staging");
    expect(
      problemsOf(load, {
        ...deployed("staging"),
        S3_BUCKET: production.documentsBucket,
        S3_THUMBNAILS_BUCKET: production.thumbnailsBucket,
      }),
    ).toEqual(
      expect.arrayContaining([
        "S3_BUCKET: is the production environment's bucket",
        "S3_THUMBNAILS_BUCKET: is the production environment's bucket",
      ]),
    );
    expect(problemsOf(load, { ...deployed("production"), S3_BUCKET: staging.documentsBucket })).toContain(
      "S3_BUCKET: is the staging environment's bucket",
    );
  });

  it("refuses a deployed environment's bucket locally", () => {
    expect(problemsOf(load, { ...local(), S3_BUCKET: resourcesOf("production").documentsBucket })).toEqual([
      "S3_BUCKET: is the production environment's bucket",
    ]);
  });

  it("refuses a DATABASE_URL whose host is not DATABASE_HOST, without showing the URL", () => {
    // A secret pasted from the other environment: its host is not the one this environment names.
    const env = { ...deployed("staging"), DATABASE_HOST: "ep-techcorp-staging-pooler.us-east-2.aws.neon.tech" };
    const problems = problemsOf(load, env);
    expect(problems).toContain("DATABASE_URL: its host is not DATABASE_HOST");
    expect(problems.join(" ")).not.toContain(localHost());
    // Locally the check runs only when DATABASE_HOST is set.
    expect(problemsOf(load, { ...local(), DATABASE_HOST: "db.elsewhere.example" })).toEqual([
      "DATABASE_URL: its host is not DATABASE_HOST",
    ]);
    expect(problemsOf(load, local())).toEqual([]);
  });

  it("requires DATABASE_HOST in staging and production", () => {
    for (const environment of ["staging", "production"] as const) {
      expect(problemsOf(load, { ...deployed(environment), DATABASE_HOST: "" })).toContain(
        `DATABASE_HOST: required in ${environment}`,
      );
    }
  });

  it("holds staging to production's rules", () => {
    expect(problemsOf(load, { ...deployed("staging"), NEON_LOCAL_PROXY: "127.0.0.1:5433" })).toContain(
      "NEON_LOCAL_PROXY: must not be set in staging",
    );
    expect(problemsOf(load, { ...deployed("staging"), S3_ENDPOINT: "" })).toContain(
      "S3_ENDPOINT: required in staging (R2 or S3 endpoint)",
    );
  });
});
