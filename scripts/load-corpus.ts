// `npm run corpus:load -- --count 10000 [--seed 1] [--via bulk|api] [--no-files] [--concurrency 4]`
// Fills the platform with the deterministic corpus of scripts/corpus/generate.ts.
//   bulk (default): straight into Postgres as the system, files to S3; tens of thousands per
//        minute; safe to run again (existing documents are skipped).
//   api:  through the running API (POST /documents, processed by the processor), as users would.
// Connection settings come from the environment (DATABASE_URL, S3_*, API_URL) or, when absent,
// from the running `npm run dev` stack (.local/stack.env).
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseEnv } from "node:util";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { badUsage, integerOption, orUsage, scriptArgs } from "./args.ts";
import { CORPUS_PASSWORD, loadBulk } from "./corpus/bulk.ts";
import { loadThroughApi } from "./corpus/through-api.ts";

const usage = "usage: npm run corpus:load [-- --count 1000] [--seed 1] [--via bulk|api] [--no-files] [--concurrency 4]";
const values = scriptArgs(
  {
    count: { type: "string", default: "1000" },
    seed: { type: "string", default: "1" },
    via: { type: "string", default: "bulk" },
    "no-files": { type: "boolean", default: false },
    concurrency: { type: "string", default: "4" },
  },
  usage,
);
const count = orUsage(usage, () => integerOption("count", values.count, 1, 10_000_000));
const seed = orUsage(usage, () => integerOption("seed", values.seed, 0));
const concurrency = orUsage(usage, () => integerOption("concurrency", values.concurrency, 1, 64));
if (!["bulk", "api"].includes(values.via)) badUsage(usage, `--via must be bulk or api, not "${values.via}"`);

const devEnvFile = path.resolve(import.meta.dirname, "../.local/stack.env");
const env: Record<string, string | undefined> = {
  ...(existsSync(devEnvFile) ? parseEnv(readFileSync(devEnvFile, "utf8")) : {}),
  ...process.env,
};
const progress = (loaded: number, total: number) => {
  if (loaded === total || loaded % 1000 === 0) console.log(`[corpus] ${loaded}/${total}`);
};

process.on("uncaughtException", (error: unknown) => {
  // An API or database that does not answer (fetch failed, ECONNREFUSED): one line, not a trace.
  const cause = (error as { cause?: unknown }).cause;
  console.error(
    `[corpus] failed: ${error instanceof Error ? error.message : String(error)}${cause ? ` (${String(cause)})` : ""}`,
  );
  process.exit(1);
});

if (values.via === "bulk") {
  // Straight to Postgres when the stack says where (its DATABASE_URL is the transaction pooler).
  const databaseUrl = env.DATABASE_URL_UNPOOLED || env.DATABASE_URL;
  if (!databaseUrl) {
    console.error("no DATABASE_URL: set it, or start `npm run dev` first");
    process.exit(2);
  }
  let putObject: ((key: string, body: string, contentType: string) => Promise<void>) | undefined;
  if (!values["no-files"]) {
    const s3 = new S3Client({
      region: env.S3_REGION ?? "us-east-1",
      endpoint: env.S3_ENDPOINT,
      forcePathStyle: true,
      credentials: { accessKeyId: env.S3_ACCESS_KEY_ID ?? "", secretAccessKey: env.S3_SECRET_ACCESS_KEY ?? "" },
    });
    putObject = async (key, body, contentType) => {
      await s3.send(new PutObjectCommand({ Bucket: env.S3_BUCKET, Key: key, Body: body, ContentType: contentType }));
    };
  }
  const result = await loadBulk({
    seed,
    count,
    databaseUrl,
    ...(putObject ? { putObject } : {}),
    onProgress: progress,
  });
  console.log(
    `[corpus] seed ${seed}: ${result.inserted} documents added, ${result.skipped} already there, ${result.users} users (password "${CORPUS_PASSWORD}") in ${result.seconds.toFixed(1)} s`,
  );
} else {
  const apiUrl = env.API_URL ?? "http://localhost:8787";
  const started = performance.now();
  const result = await loadThroughApi({
    seed,
    count,
    password: CORPUS_PASSWORD,
    concurrency,
    fetch: (p, init) => fetch(`${apiUrl}${p}`, init),
    onProgress: progress,
    // New users verify their addresses through the stack's inbox (unverified ones cannot share).
    ...(env.MAIL_INBOX_URL ? { inboxUrl: env.MAIL_INBOX_URL } : {}),
  });
  console.log(
    `[corpus] seed ${seed}: ${result.documentIds.length} documents uploaded through ${apiUrl} by ${result.users.length} users in ${((performance.now() - started) / 1000).toFixed(1)} s; the processor indexes them as it goes`,
  );
}
