// The checks a staging refresh passes before it writes anything: the refresh empties its target,
// so a target that may be production, or the source itself, is refused.

/** Thrown when a refresh must not run; the message says which rule refused it. */
export class RefreshRefused extends Error {
  override name = "RefreshRefused";
}

/** The one environment a refresh writes to (`--target-environment`). */
export const TARGET_ENVIRONMENT = "staging";

/** The comment a refreshed database carries (`COMMENT ON DATABASE`), so the next refresh knows it. */
export const STAGING_MARKER = "techcorp:staging";

export interface DatabaseIdentity {
  host: string;
  port: number;
  database: string;
}

/**
 * Which server and database a connection string reaches: host lower-cased, port 5432 when
 * absent, and Neon's pooled endpoint (`ep-…-pooler.…`) taken as its direct one, since both reach
 * the same database. Throws `RefreshRefused` for a string that is not a postgres URL.
 */
export function databaseIdentity(url: string): DatabaseIdentity {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RefreshRefused("a database URL is not a URL");
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new RefreshRefused(`a database URL must be postgres://, not ${parsed.protocol}//`);
  }
  const [first = "", ...rest] = parsed.hostname.toLowerCase().split(".");
  return {
    host: [first.replace(/-pooler$/, ""), ...rest].join("."),
    port: Number(parsed.port || 5432),
    database: decodeURIComponent(parsed.pathname.replace(/^\//, "")) || decodeURIComponent(parsed.username),
  };
}

const same = (a: DatabaseIdentity, b: DatabaseIdentity) =>
  a.host === b.host && a.port === b.port && a.database === b.database;

/** A host label or database name that says production: `prod`, `production`, `prd`, `live`. */
const PRODUCTION_WORD = /^(prod|production|prd|live)$/i;

const looksLikeProduction = (id: DatabaseIdentity) =>
  [...id.host.split(/[^a-z0-9]+/i), ...id.database.split(/[^a-z0-9]+/i)].some((word) => PRODUCTION_WORD.test(word));

export interface GuardInput {
  sourceUrl: string | undefined;
  targetUrl: string | undefined;
  /** `--target-environment`. */
  targetEnvironment: string | undefined;
  /** `PRODUCTION_DATABASE_URL`, when the operator's environment names it. */
  productionUrl?: string | undefined;
}

/**
 * Refuses (throws `RefreshRefused`) unless: both URLs are given; `--target-environment staging`
 * was passed; the target is not the source (host, port, database); the target is not
 * `PRODUCTION_DATABASE_URL`; and no word of the target's host or database name says production.
 * The target's own marker is checked once connected (`checkTargetMarker`).
 */
export function checkRefreshTargets(input: GuardInput): { source: DatabaseIdentity; target: DatabaseIdentity } {
  if (!input.sourceUrl) throw new RefreshRefused("SOURCE_DATABASE_URL is not set (the database to copy from)");
  if (!input.targetUrl) throw new RefreshRefused("DATABASE_URL is not set (staging's database, unpooled)");
  if (input.targetEnvironment !== TARGET_ENVIRONMENT) {
    throw new RefreshRefused(
      `--target-environment ${TARGET_ENVIRONMENT} is required (got ${input.targetEnvironment ?? "nothing"}): the refresh empties its target`,
    );
  }
  const source = databaseIdentity(input.sourceUrl);
  const target = databaseIdentity(input.targetUrl);
  if (same(source, target)) {
    throw new RefreshRefused(
      `the target is the source (${target.host}:${target.port}/${target.database}): a refresh empties its target`,
    );
  }
  if (input.productionUrl && same(databaseIdentity(input.productionUrl), target)) {
    throw new RefreshRefused("the target is PRODUCTION_DATABASE_URL");
  }
  if (looksLikeProduction(target)) {
    throw new RefreshRefused(
      `the target ${target.host}/${target.database} is named like production; staging's database must not be`,
    );
  }
  return { source, target };
}

/**
 * The target's own consent: a database that has users must carry `STAGING_MARKER` (left by an
 * earlier refresh); an empty one may be refreshed the first time.
 */
export function checkTargetMarker(state: { comment: string | null; users: number }): void {
  if (state.users > 0 && state.comment !== STAGING_MARKER) {
    throw new RefreshRefused(
      `the target has ${state.users} users and no "${STAGING_MARKER}" comment: it was never refreshed as staging, so it is not emptied`,
    );
  }
}

/**
 * The bucket the placeholders go to: refused when it is `PRODUCTION_S3_BUCKET` or its name says
 * production (placeholders never overwrite production's files, but a refresh has no business there).
 */
export function checkTargetBucket(bucket: string, productionBucket?: string): void {
  if (productionBucket && bucket === productionBucket) throw new RefreshRefused("S3_BUCKET is PRODUCTION_S3_BUCKET");
  if (bucket.split(/[^a-z0-9]+/i).some((word) => PRODUCTION_WORD.test(word))) {
    throw new RefreshRefused(`the bucket ${bucket} is named like production; staging's must not be`);
  }
}
