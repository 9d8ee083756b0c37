import { z } from "zod";

/** An empty string in wrangler vars means "not set". */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === "" ? undefined : value), schema.optional());

const bool = z.enum(["true", "false"]).transform((value) => value === "true");

const hostPort = z.string().regex(/^[\w.-]+:\d{1,5}$/, "expected host:port");

const common = {
  ENVIRONMENT: z.enum(["development", "test", "production"]),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: "expected a postgres:// URL" }),
  NEON_LOCAL_PROXY: optional(hostPort),
  S3_ENDPOINT: optional(z.url({ protocol: /^https?$/ })),
  S3_REGION: z.string().min(1),
  S3_BUCKET: z.string().min(1),
  S3_FORCE_PATH_STYLE: bool.default(false),
  S3_ACCESS_KEY_ID: z.string().min(1),
  S3_SECRET_ACCESS_KEY: z.string().min(1),
};

const apiOnly = {
  UPSTASH_REDIS_REST_URL: optional(z.url({ protocol: /^https?$/ })),
  UPSTASH_REDIS_REST_TOKEN: optional(z.string().min(1)),
  MAX_UPLOAD_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .max(5 * 1024 ** 4),
};

type Raw<S extends Record<string, z.ZodType>> = z.infer<z.ZodObject<S>>;

function productionRules(raw: Partial<Raw<typeof common & typeof apiOnly>>, ctx: z.RefinementCtx): void {
  if (raw.ENVIRONMENT !== "production") return;
  if (raw.NEON_LOCAL_PROXY) {
    ctx.addIssue({ code: "custom", path: ["NEON_LOCAL_PROXY"], message: "must not be set in production" });
  }
  if (!raw.S3_ENDPOINT) {
    ctx.addIssue({ code: "custom", path: ["S3_ENDPOINT"], message: "required in production (R2 or S3 endpoint)" });
  }
}

function cacheRules(raw: Partial<Raw<typeof apiOnly> & { ENVIRONMENT: string }>, ctx: z.RefinementCtx): void {
  if (raw.UPSTASH_REDIS_REST_URL && !raw.UPSTASH_REDIS_REST_TOKEN) {
    ctx.addIssue({
      code: "custom",
      path: ["UPSTASH_REDIS_REST_TOKEN"],
      message: "required with UPSTASH_REDIS_REST_URL",
    });
  }
  // Locally the cache may be off (no redis-server installed); a deployment must have one.
  if (raw.ENVIRONMENT === "production" && !raw.UPSTASH_REDIS_REST_URL) {
    ctx.addIssue({ code: "custom", path: ["UPSTASH_REDIS_REST_URL"], message: "required in production" });
  }
}

const storage = (raw: Raw<typeof common>) => ({
  endpoint: raw.S3_ENDPOINT,
  region: raw.S3_REGION,
  bucket: raw.S3_BUCKET,
  forcePathStyle: raw.S3_FORCE_PATH_STYLE,
  accessKeyId: raw.S3_ACCESS_KEY_ID,
  secretAccessKey: raw.S3_SECRET_ACCESS_KEY,
});

const base = (raw: Raw<typeof common>) => ({
  environment: raw.ENVIRONMENT,
  logLevel: raw.LOG_LEVEL,
  database: { url: raw.DATABASE_URL, localProxy: raw.NEON_LOCAL_PROXY },
  storage: storage(raw),
});

const apiSchema = z
  .object({ ...common, ...apiOnly })
  .superRefine(productionRules)
  .superRefine(cacheRules)
  .transform((raw) => ({
    ...base(raw),
    cache:
      raw.UPSTASH_REDIS_REST_URL && raw.UPSTASH_REDIS_REST_TOKEN
        ? { url: raw.UPSTASH_REDIS_REST_URL, token: raw.UPSTASH_REDIS_REST_TOKEN }
        : undefined,
    uploads: { maxBytes: raw.MAX_UPLOAD_BYTES },
  }));

const processorSchema = z
  .object(common)
  .superRefine(productionRules)
  .transform((raw) => base(raw));

export type ApiConfig = z.output<typeof apiSchema>;
export type ProcessorConfig = z.output<typeof processorSchema>;
export type StorageConfig = ApiConfig["storage"];
export type DatabaseConfig = ApiConfig["database"];
export type CacheConfig = NonNullable<ApiConfig["cache"]>;
export type LogLevel = ApiConfig["logLevel"];

/** Configuration that failed validation; `problems` names each variable, never its value. */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`invalid configuration: ${problems.join("; ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

// Bindings objects are stable per isolate, so each is parsed once.
const parsed = new WeakMap<object, unknown>();

function load<S extends z.ZodType>(schema: S, env: object): z.output<S> {
  const cached = parsed.get(env);
  if (cached) return cached as z.output<S>;
  const result = schema.safeParse(env);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`));
  }
  parsed.set(env, result.data);
  return result.data;
}

/** The API worker's configuration from its bindings; throws `ConfigError` naming what is wrong. */
export const loadApiConfig = (env: object): ApiConfig => load(apiSchema, env);

/** The processor worker's configuration from its bindings; throws `ConfigError` naming what is wrong. */
export const loadProcessorConfig = (env: object): ProcessorConfig => load(processorSchema, env);
