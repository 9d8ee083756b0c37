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

const DEV_ENV_FILE = path.resolve(import.meta.dirname, "../../.local/stack.env");

/**
 * `chooseScriptEnv` of this process and the running `npm run dev` stack's `.local/stack.env`, and
 * whether the settings are the dev stack's (for `explainFailure`).
 */
export function scriptEnv(): { env: Record<string, string | undefined>; fromDevStack: boolean } {
  const devEnv = existsSync(DEV_ENV_FILE) ? parseEnv(readFileSync(DEV_ENV_FILE, "utf8")) : undefined;
  const env = chooseScriptEnv(process.env, devEnv);
  return { env, fromDevStack: devEnv !== undefined && env !== process.env };
}

/**
 * A script's failure as one line. With the dev stack's settings, a connection refused means the
 * stack that wrote `.local/stack.env` is no longer running: said so, with what to do.
 */
export function explainFailure(error: unknown, fromDevStack: boolean): string {
  const message = errorLine(error);
  const refused = (error as { code?: unknown } | undefined)?.code === "ECONNREFUSED" || /ECONNREFUSED/.test(message);
  return refused && fromDevStack
    ? `the dev stack of .local/stack.env does not answer (${message}): start \`npm run dev\`, or set ${TARGET_VARIABLES.join(", ")} for another platform`
    : message;
}

/**
 * An error as one line, its root cause first: a drizzle `Failed query: <sql>\nparams: …` error says
 * only which statement failed, so the line is its cause's (the Postgres error, e.g. "permission
 * denied for database techcorp") with the statement's start after it (its SQL comments left out).
 */
export function errorLine(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const failedQuery = /^Failed query: ([\s\S]*?)(?:\nparams:|$)/.exec(error.message);
  if (failedQuery && error.cause !== undefined) {
    const query = (failedQuery[1] ?? "")
      .split("\n")
      .filter((line) => !line.trim().startsWith("--"))
      .join(" ")
      .replace(/\s+/g, " ")
      .trim();
    return `${errorLine(error.cause)} (in: ${query.length > 80 ? `${query.slice(0, 80)}…` : query})`;
  }
  return (error.message || error.name).replace(/\s*\n\s*/g, " ").trim();
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
 * @throws Error naming the variable that is missing, or the variables that name one bucket twice
 *   (documents, thumbnails and backups are three buckets: a restore into one bucket for both roles,
 *   or a backup into the platform's own, would mix them).
 */
export function backupTarget(env: Record<string, string | undefined>): BackupTarget {
  const databaseUrl = env.DATABASE_URL_UNPOOLED || env.DATABASE_URL;
  if (!databaseUrl) throw missing(env, "DATABASE_URL_UNPOOLED (or DATABASE_URL)");
  for (const name of ["S3_BUCKET", "S3_THUMBNAILS_BUCKET"]) if (!env[name]) throw missing(env, name);
  const store = backupStore(env);
  const named: [string, string][] = [
    ["S3_BUCKET", env.S3_BUCKET ?? ""],
    ["S3_THUMBNAILS_BUCKET", env.S3_THUMBNAILS_BUCKET ?? ""],
    [env.S3_BACKUP_BUCKET ? "S3_BACKUP_BUCKET" : "the default backup bucket", store.backupBucket],
  ];
  for (const [i, [name, bucket]] of named.entries()) {
    const same = named.slice(i + 1).find(([, other]) => other === bucket);
    if (same)
      throw new Error(
        `${name} and ${same[0]} both name the bucket "${bucket}": the documents, thumbnails and backup buckets must be three different buckets`,
      );
  }
  return {
    ...store,
    databaseUrl,
    buckets: { documents: env.S3_BUCKET ?? "", thumbnails: env.S3_THUMBNAILS_BUCKET ?? "" },
  };
}

/**
 * The backup bucket alone (what `npm run restore -- --list` reads): the S3 endpoint and
 * credentials and the bucket `S3_BACKUP_BUCKET` names, or the default for `S3_BUCKET`.
 * @throws Error naming the variable that is missing (`S3_ENDPOINT` too: without it the SDK would
 *   silently go to AWS's us-east-1).
 */
export function backupStore(env: Record<string, string | undefined>): Pick<BackupTarget, "s3" | "backupBucket"> {
  for (const name of ["S3_ENDPOINT", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"])
    if (!env[name]) throw missing(env, name);
  return { s3: s3Client(env), backupBucket: env.S3_BACKUP_BUCKET || defaultBackupBucket(env.S3_BUCKET) };
}

/** The error of a missing variable, saying why the dev stack's settings were not used when they were not. */
function missing(env: Record<string, string | undefined>, name: string): Error {
  const named = TARGET_VARIABLES.filter((variable) => env[variable]);
  if (named.length === 0) return new Error(`no ${name}: set it, or start \`npm run dev\` first`);
  return new Error(
    `no ${name}: ${named.join(", ")} ${named.length === 1 ? "is" : "are"} set, so every target variable comes from the environment, never from the dev stack: set ${name} too, or unset ${named.join(", ")} to use the running \`npm run dev\` stack`,
  );
}
