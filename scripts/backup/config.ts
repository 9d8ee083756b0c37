// Where `npm run backup` / `npm run restore` read and write, from the environment as the other admin
// scripts take it (scripts/load-corpus.ts): the variables first, else the running `npm run dev`
// stack's `.local/stack.env`.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseEnv } from "node:util";
import { S3Client } from "@aws-sdk/client-s3";

/** The bucket backups go to when `S3_BACKUP_BUCKET` is not set. */
export const DEFAULT_BACKUP_BUCKET = "techcorp-backups";

export interface BackupTarget {
  /** Postgres itself, not the pooler: a backup holds one transaction open, a restore runs DDL. */
  databaseUrl: string;
  s3: S3Client;
  /** The platform's buckets by role: what `S3_BUCKET` and `S3_THUMBNAILS_BUCKET` name. */
  buckets: { documents: string; thumbnails: string };
  backupBucket: string;
}

/** The environment, with `.local/stack.env` (the dev stack's bindings) under the process's own. */
export function scriptEnv(): Record<string, string | undefined> {
  const devEnvFile = path.resolve(import.meta.dirname, "../../.local/stack.env");
  return { ...(existsSync(devEnvFile) ? parseEnv(readFileSync(devEnvFile, "utf8")) : {}), ...process.env };
}

/** An S3 client as the platform's storage configures one (path-style for local servers). */
export function s3Client(env: Record<string, string | undefined>): S3Client {
  return new S3Client({
    region: env.S3_REGION ?? "us-east-1",
    ...(env.S3_ENDPOINT ? { endpoint: env.S3_ENDPOINT } : {}),
    forcePathStyle: env.S3_FORCE_PATH_STYLE !== "false",
    credentials: { accessKeyId: env.S3_ACCESS_KEY_ID ?? "", secretAccessKey: env.S3_SECRET_ACCESS_KEY ?? "" },
    // R2 and s3rver do not take the SDK's default CRC checksums on every request (stack/s3.ts).
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/**
 * The target of a backup or restore from environment variables.
 * @throws Error naming the variable that is missing.
 */
export function backupTarget(env: Record<string, string | undefined>): BackupTarget {
  const databaseUrl = env.DATABASE_URL_UNPOOLED || env.DATABASE_URL;
  if (!databaseUrl) throw new Error("no DATABASE_URL_UNPOOLED (or DATABASE_URL): set it, or start `npm run dev` first");
  for (const name of ["S3_BUCKET", "S3_THUMBNAILS_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"]) {
    if (!env[name]) throw new Error(`no ${name}: set it, or start \`npm run dev\` first`);
  }
  return {
    databaseUrl,
    s3: s3Client(env),
    buckets: { documents: env.S3_BUCKET ?? "", thumbnails: env.S3_THUMBNAILS_BUCKET ?? "" },
    backupBucket: env.S3_BACKUP_BUCKET || DEFAULT_BACKUP_BUCKET,
  };
}
