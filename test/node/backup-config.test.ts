import { describe, expect, it } from "vitest";
import { backupTarget, chooseScriptEnv } from "../../scripts/backup/config.ts";

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
