// `npm run staging:refresh -- --target-environment staging [--users 200] [--seed staging] [--password …] [--no-objects]`
// Empties staging's database and fills it with production's schema (the project's migrations)
// and an anonymised, deterministic sample of production's rows; each document version gets a
// placeholder object in staging's bucket (production's files are never read). README, "Staging data".
//   SOURCE_DATABASE_URL    production, read in one read-only transaction (its direct endpoint)
//   DATABASE_URL_UNPOOLED  staging's database (or DATABASE_URL), written in one transaction
//   S3_*                   staging's bucket for the placeholders, as the workers read them
//   PRODUCTION_DATABASE_URL, PRODUCTION_S3_BUCKET  optional: refused as targets
import { HeadBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { integerOption, orUsage, scriptArgs } from "./args.ts";
import { checkRefreshTargets, checkTargetBucket, RefreshRefused } from "./staging/guard.ts";
import { DEFAULT_STAGING_PASSWORD, refreshStaging } from "./staging/refresh.ts";

const usage =
  "usage: SOURCE_DATABASE_URL=… DATABASE_URL_UNPOOLED=… npm run staging:refresh -- --target-environment staging [--users 200] [--seed staging] [--password P] [--no-objects]";
const values = scriptArgs(
  {
    "target-environment": { type: "string" },
    users: { type: "string", default: "200" },
    seed: { type: "string", default: "staging" },
    password: { type: "string", default: DEFAULT_STAGING_PASSWORD },
    "no-objects": { type: "boolean", default: false },
  },
  usage,
);
const users = orUsage(usage, () => integerOption("users", values.users, 1, 100_000));
const env = process.env;

const targets = {
  sourceUrl: env.SOURCE_DATABASE_URL,
  targetUrl: env.DATABASE_URL_UNPOOLED || env.DATABASE_URL,
  targetEnvironment: values["target-environment"],
  productionUrl: env.PRODUCTION_DATABASE_URL,
};

try {
  // The databases first: a refusal names the most serious mistake.
  checkRefreshTargets(targets);
  let putObject: ((key: string, body: Buffer, contentType: string) => Promise<void>) | undefined;
  if (!values["no-objects"]) {
    const bucket = env.S3_BUCKET;
    if (!bucket || !env.S3_ENDPOINT)
      throw new RefreshRefused("S3_ENDPOINT and S3_BUCKET (staging's) are needed, or --no-objects");
    checkTargetBucket(bucket, env.PRODUCTION_S3_BUCKET);
    const s3 = new S3Client({
      region: env.S3_REGION ?? "auto",
      endpoint: env.S3_ENDPOINT,
      forcePathStyle: env.S3_FORCE_PATH_STYLE === "true",
      credentials: { accessKeyId: env.S3_ACCESS_KEY_ID ?? "", secretAccessKey: env.S3_SECRET_ACCESS_KEY ?? "" },
    });
    // Before anything is written: a missing bucket would otherwise fail midway.
    await s3.send(new HeadBucketCommand({ Bucket: bucket })).catch((error: unknown) => {
      throw new RefreshRefused(`staging's bucket "${bucket}" cannot be reached: ${describe(error)}`);
    });
    putObject = async (key, body, contentType) => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
    };
  }
  const result = await refreshStaging({
    ...targets,
    users,
    seed: values.seed,
    password: values.password,
    ...(putObject ? { putObject } : {}),
    onProgress: (message) => console.log(`[staging] ${message}`),
  });
  const total = Object.values(result.rows).reduce((sum, n) => sum + n, 0);
  console.log(
    `[staging] done in ${result.seconds.toFixed(1)} s: ${total} rows, ${result.objects} placeholder objects; every sampled user's password is "${values.password}"`,
  );
} catch (error) {
  if (error instanceof RefreshRefused) {
    console.error(`[staging] refused: ${error.message}\n${usage}`);
    process.exitCode = 2;
  } else {
    // Nothing half-written: the target's rows are replaced in one transaction (scripts/staging/refresh.ts).
    console.error(`[staging] failed: ${describe(error)}`);
    process.exitCode = 1;
  }
}

/** An error's one line: the AWS SDK's name (NoSuchBucket, NotFound) when its message is empty. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.message && error.message !== "UnknownError" ? error.message : error.name;
}
