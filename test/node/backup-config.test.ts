import { describe, expect, it } from "vitest";
import { backupStore, backupTarget, chooseScriptEnv, errorLine, explainFailure } from "../../scripts/backup/config.ts";

// Which settings `npm run backup` / `npm run restore` take: never a mix of an operator's variables
// and the dev stack's, which could restore a production database from the dev stack's buckets.

const devStack = {
  DATABASE_URL_UNPOOLED: "postgres://app:dev@127.0.0.1:54320/techcorp",
  S3_ENDPOINT: "http://127.0.0.1:9000",
  S3_BUCKET: "techcorp-documents",
  S3_THUMBNAILS_BUCKET: "techcorp-thumbnails",
  S3_ACCESS_KEY_ID: "dev",
  S3_SECRET_ACCESS_KEY: "dev-secret",
};

describe("the settings of the backup scripts", () => {
  it("are the dev stack's when the environment names no target", () => {
    const env = chooseScriptEnv({ PATH: "/usr/bin" }, devStack);
    expect(backupTarget(env).databaseUrl).toBe(devStack.DATABASE_URL_UNPOOLED);
    expect(backupTarget(env).buckets.documents).toBe("techcorp-documents");
  });

  it("are the environment's alone once it names one: a forgotten bucket is an error, not the dev stack's", () => {
    const env = chooseScriptEnv({ DATABASE_URL_UNPOOLED: "postgres://owner@db.production.example/techcorp" }, devStack);
    expect(env.S3_ENDPOINT).toBeUndefined();
    expect(() => backupTarget(env)).toThrow("no S3_BUCKET");
  });

  it("say why the dev stack's were not used when a variable is missing, and what to do", () => {
    const env = chooseScriptEnv({ S3_BACKUP_BUCKET: "backups" }, devStack);
    expect(() => backupTarget(env)).toThrow(
      "no DATABASE_URL_UNPOOLED (or DATABASE_URL): S3_BACKUP_BUCKET is set, so every target variable comes from the environment, never from the dev stack: set DATABASE_URL_UNPOOLED (or DATABASE_URL) too, or unset S3_BACKUP_BUCKET to use the running `npm run dev` stack",
    );
    expect(() => backupTarget({})).toThrow(
      "no DATABASE_URL_UNPOOLED (or DATABASE_URL): set it, or start `npm run dev` first",
    );
  });

  it("of a listing of backups need no database", () => {
    const store = backupStore({
      S3_ENDPOINT: "http://127.0.0.1:9000",
      S3_ACCESS_KEY_ID: "k",
      S3_SECRET_ACCESS_KEY: "s",
      S3_BACKUP_BUCKET: "backups",
    });
    expect(store.backupBucket).toBe("backups");
    expect(() => backupStore({ S3_ENDPOINT: "http://127.0.0.1:9000", S3_BACKUP_BUCKET: "backups" })).toThrow(
      "no S3_ACCESS_KEY_ID",
    );
  });

  it("name a missing S3_ENDPOINT rather than let the SDK go to AWS", () => {
    const { S3_ENDPOINT: _endpoint, ...noEndpoint } = devStack;
    expect(() => backupTarget(noEndpoint)).toThrow(
      "no S3_ENDPOINT: DATABASE_URL_UNPOOLED, S3_BUCKET, S3_THUMBNAILS_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY are set, so every target variable comes from the environment, never from the dev stack: set S3_ENDPOINT too,",
    );
    expect(() => backupStore({ S3_ACCESS_KEY_ID: "k", S3_SECRET_ACCESS_KEY: "s" })).toThrow("no S3_ENDPOINT:");
  });

  it("refuse one bucket named for two roles", () => {
    expect(() => backupTarget({ ...devStack, S3_THUMBNAILS_BUCKET: "techcorp-documents" })).toThrow(
      'S3_BUCKET and S3_THUMBNAILS_BUCKET both name the bucket "techcorp-documents": the documents, thumbnails and backup buckets must be three different buckets',
    );
    expect(() => backupTarget({ ...devStack, S3_BACKUP_BUCKET: "techcorp-thumbnails" })).toThrow(
      'S3_THUMBNAILS_BUCKET and S3_BACKUP_BUCKET both name the bucket "techcorp-thumbnails"',
    );
    expect(() => backupTarget({ ...devStack, S3_BUCKET: "techcorp-backups" })).toThrow(
      'S3_BUCKET and the default backup bucket both name the bucket "techcorp-backups"',
    );
  });

  it("print a failed query's root cause, not drizzle's wrapper", () => {
    const cause = new Error("permission denied for database restored");
    const wrapped = new Error('Failed query: CREATE SCHEMA IF NOT EXISTS "drizzle"\nparams: ', { cause });
    expect(errorLine(wrapped)).toBe(
      'permission denied for database restored (in: CREATE SCHEMA IF NOT EXISTS "drizzle")',
    );
    expect(explainFailure(wrapped, false)).toBe(errorLine(wrapped));
    const statement = new Error('Failed query: \n-- why it is built here\nCREATE SCHEMA "repartition";\nparams: ', {
      cause: new Error('schema "repartition" already exists'),
    });
    expect(errorLine(statement)).toBe('schema "repartition" already exists (in: CREATE SCHEMA "repartition";)');
    expect(errorLine(new Error("two\n  lines"))).toBe("two lines");
  });

  it("explain a refused connection with the dev stack's settings as a dev stack no longer running", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:54569"), { code: "ECONNREFUSED" });
    expect(explainFailure(refused, true)).toMatch(
      /^the dev stack of \.local\/stack\.env does not answer \(connect ECONNREFUSED 127\.0\.0\.1:54569\): start `npm run dev`/,
    );
    expect(explainFailure(refused, false)).toBe("connect ECONNREFUSED 127.0.0.1:54569");
    expect(explainFailure(new Error("disk full"), true)).toBe("disk full");
  });

  it("are the environment's when there is no dev stack", () => {
    const env = chooseScriptEnv({ S3_BUCKET: "b" }, undefined);
    expect(env).toEqual({ S3_BUCKET: "b" });
  });

  it("back up into the environment's own bucket unless S3_BACKUP_BUCKET says otherwise", () => {
    const production = { ...devStack, S3_BUCKET: "techcorp-documents-production", S3_THUMBNAILS_BUCKET: "t" };
    expect(backupTarget(production).backupBucket).toBe("techcorp-backups-production");
    expect(backupTarget({ ...production, S3_BUCKET: "techcorp-documents-staging" }).backupBucket).toBe(
      "techcorp-backups-staging",
    );
    expect(backupTarget(devStack).backupBucket).toBe("techcorp-backups");
    expect(backupTarget({ ...production, S3_BACKUP_BUCKET: "elsewhere" }).backupBucket).toBe("elsewhere");
  });
});
