// Where `npm run backup` / `npm run restore` read and write: the environment's variables, or, when
// it sets none of them, the running `npm run dev` stack's `.local/stack.env`.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseEnv } from "node:util";
import { S3Client } from "@aws-sdk/client-s3";
import { bucketOwner, resourcesOf } from "../../src/pkg/config/environments.ts";

/**
 * The bucket backups go to when `S3_BACKUP_BUCKET` is not set: a deployed environment's own
 * (`techcorp-backups-<environment>`, told by `S3_BUCKET`), so staging's backups never land among
 * production's (a restore without `--id` takes the newest); locally `techcorp-backups`.
 */
export const DEFAULT_BACKUP_BUCKET = "techcorp-backups";

function defaultBackupBucket(documentsBucket: string | undefined): string {
  const owner = documentsBucket ? bucketOwner(documentsBucket) : undefined;
  return owner ? resourcesOf(owner).backupsBucket : DEFAULT_BACKUP_BUCKET;
}

export interface BackupTarget {
  /** Postgres itself, not the pooler: a backup holds one transaction open, a restore runs DDL. */
  databaseUrl: string;
  s3: S3Client;
  /** The platform's buckets by role: what `S3_BUCKET` and `S3_THUMBNAILS_BUCKET` name. */
  buckets: { documents: string; thumbnails: string };
  backupBucket: string;
}

/** The variables that say where a backup or restore reads and writes. */
export const TARGET_VARIABLES = [
  "DATABASE_URL_UNPOOLED",
  "DATABASE_URL",
  "S3_ENDPOINT",
  "S3_BUCKET",
  "S3_THUMBNAILS_BUCKET",
  "S3_BACKUP_BUCKET",
  "S3_ACCESS_KEY_ID",
  "S3_SECRET_ACCESS_KEY",
] as const;

/**
 * The settings a script runs with: the process's environment alone as soon as it names any target
 * variable, else the dev stack's bindings (`devEnv`, `.local/stack.env`). Never a mix: a production
 * database with the dev stack's buckets (one variable forgotten) would back up into, or restore
 * from, the wrong place; a missing variable is then `backupTarget`'s error instead.
 */
export function chooseScriptEnv(
  processEnv: Record<string, string | undefined>,
  devEnv: Record<string, string | undefined> | undefined,
): Record<string, string | undefined> {
  const namesTarget = TARGET_VARIABLES.some((name) => processEnv[name]);
  return namesTarget || !devEnv ? processEnv : { ...devEnv, ...processEnv };
}

/** `chooseScriptEnv` of this process and the running `npm run dev` stack's `.local/stack.env`. */
export function scriptEnv(): Record<string, string | undefined> {
  const devEnvFile = path.resolve(import.meta.dirname, "../../.local/stack.env");
  return chooseScriptEnv(process.env, existsSync(devEnvFile) ? parseEnv(readFileSync(devEnvFile, "utf8")) : undefined);
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
    if (!env[name])
      throw new Error(
        `no ${name}: set it (or set none of ${TARGET_VARIABLES.join(", ")}, with \`npm run dev\` running)`,
      );
  }
  return {
    databaseUrl,
    s3: s3Client(env),
    buckets: { documents: env.S3_BUCKET ?? "", thumbnails: env.S3_THUMBNAILS_BUCKET ?? "" },
    backupBucket: env.S3_BACKUP_BUCKET || defaultBackupBucket(env.S3_BUCKET),
  };
}
