import { z } from "zod";
import { type Mailbox, parseMailbox } from "../mail/mailer.ts";
import { bucketOwner, isDeployed } from "./environments.ts";

/** An empty string in wrangler vars means "not set". */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === "" ? undefined : value), schema.optional());

const bool = z.enum(["true", "false"]).transform((value) => value === "true");

const hostPort = z.string().regex(/^[\w.-]+:\d{1,5}$/, "expected host:port");

/** JSON given as a string (a secret, or a var written as text) or already parsed (a TOML table). */
const json = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value, ctx) => {
    if (typeof value !== "string") return value;
    try {
      return JSON.parse(value);
    } catch {
      ctx.issues.push({ code: "custom", message: "not valid JSON", input: value });
      return z.NEVER;
    }
  }, schema);

const seconds = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** A deadline for calls to a dependency, in milliseconds (at least 100 ms, at most 10 minutes). */
/** A byte count up to JavaScript's largest exact integer, `defaultBytes` when unset. */
const byteCount = (defaultBytes: number) =>
  z.coerce
    .number()
    .int()
    .positive()
    .max(2 ** 53 - 1)
    .default(defaultBytes);
const deadline = (defaultMs: number) => z.coerce.number().int().min(100).max(600_000).default(defaultMs);

/** A data encryption key: 32 bytes, standard base64. */
const encryptionKey = z.base64().refine((key) => atob(key).length === 32, "expected 32 bytes, base64");

const signingKey = z.looseObject({
  kty: z.literal("EC"),
  crv: z.literal("P-256"),
  kid: z.string().min(1),
  x: z.string().min(1),
  y: z.string().min(1),
  d: z.string().min(1),
});

const rateWindow = z.object({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/),
  limit: z.number().int().positive(),
  windowSeconds: z.number().int().positive(),
});

const oidcProvider = z.object({
  id: z.string().regex(/^[a-z0-9-]+$/),
  // What the sign-in page's button says ("Continue with <name>"); the id when none is given.
  name: z.string().min(1).max(60).optional(),
  issuer: z.url(),
  clientId: z.string().min(1),
  scopes: z.array(z.string()).default(["openid", "email", "profile"]),
});

/** Grant types a registered OAuth client may use (RFC 6749 §4, RFC 8628 §3.4, our MFA grant). */
export const CLIENT_GRANT_TYPES = [
  "authorization_code",
  "refresh_token",
  "password",
  "urn:techcorp:params:oauth:grant-type:mfa-otp",
  "urn:ietf:params:oauth:grant-type:device_code",
] as const;

/**
 * A redirect URI as a client may register it (RFC 6749 §3.1.2: absolute, no fragment): https, an
 * http loopback IP literal (RFC 8252 §7.3, native clients; matched at any port) or a private-use
 * scheme in reverse-domain form (RFC 8252 §7.1, native clients). Which kind fits which client is
 * checked in `clientRules`.
 */
const redirectUri = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return url.hash === "" && !value.includes("#");
  } catch {
    return false;
  }
}, "an absolute URI without a fragment");

/** A scope value as RFC 6749 §3.3 writes it (`scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`). */
const scopeToken = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,64}$/, "a scope token (RFC 6749 §3.3)");

const oauthClient = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._~-]{1,64}$/),
  name: z.string().min(1).max(100),
  type: z.enum(["public", "confidential"]),
  applicationType: z.enum(["web", "native"]).default("web"),
  redirectUris: z.array(redirectUri).max(20).default([]),
  grantTypes: z.array(z.enum(CLIENT_GRANT_TYPES)).default([]),
  // What an authorization or device request of this client that names no scope asks for (RFC
  // 6749 §3.3's pre-defined default); an unknown one makes such requests `invalid_scope`.
  defaultScopes: z.array(scopeToken).max(50).default([]),
});

const common = {
  // `staging` and `production` are the deployed environments (src/pkg/config/environments.ts),
  // both held to the rules below that say "production".
  ENVIRONMENT: z.enum(["development", "test", "staging", "production"]),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: "expected a postgres:// URL" }),
  // The host DATABASE_URL (a secret) must name: a var per environment, so that a secret pasted
  // from another environment is refused (required in staging and production).
  DATABASE_HOST: optional(z.string().regex(/^[A-Za-z0-9.-]+$/, "expected a host name")),
  NEON_LOCAL_PROXY: optional(hostPort),
  S3_ENDPOINT: optional(z.url({ protocol: /^https?$/ })),
  S3_REGION: z.string().min(1),
  S3_BUCKET: z.string().min(1),
  S3_THUMBNAILS_BUCKET: z.string().min(1),
  S3_FORCE_PATH_STYLE: bool.default(false),
  S3_ACCESS_KEY_ID: z.string().min(1),
  S3_SECRET_ACCESS_KEY: z.string().min(1),
  // Seals what the database keeps but must read back (TOTP seeds, webhook secrets) and OIDC state;
  // each use derives its own key from it.
  DATA_ENCRYPTION_KEY: encryptionKey,
  // Keys that open but never seal, comma-separated: the key being retired while
  // `npm run secrets:reseal` re-seals under DATA_ENCRYPTION_KEY, or the incoming one while a
  // rotation is rolled out (docs/runbook.md, "DATA_ENCRYPTION_KEY").
  DATA_ENCRYPTION_KEY_PREVIOUS: optional(
    z
      .string()
      .transform((value) =>
        value
          .split(",")
          .map((key) => key.trim())
          .filter((key) => key !== ""),
      )
      .pipe(z.array(encryptionKey).max(3)),
  ),
  // Upstash Redis: the API caches search results in it; the processor invalidates them.
  UPSTASH_REDIS_REST_URL: optional(z.url({ protocol: /^https?$/ })),
  UPSTASH_REDIS_REST_TOKEN: optional(z.string().min(1)),
  // Deadlines (ms) of calls to dependencies; past one the call is abandoned and the API answers
  // 503 with Retry-After (the processor retries the message). See README, "Deadlines".
  // Postgres: opening a connection, and each statement, measured by the client (a frozen server
  // cannot enforce its own statement_timeout).
  DATABASE_TIMEOUT_MS: deadline(10_000),
  // S3: each request until its response headers (a part of a multipart upload is its own request),
  // and the longest silence while an object's body is read.
  S3_TIMEOUT_MS: deadline(30_000),
  // Cloudflare Queues: one send or sendBatch.
  QUEUE_TIMEOUT_MS: deadline(5_000),
  // Upstash Redis: each command (search-cache reads keep their own, shorter budget).
  REDIS_TIMEOUT_MS: deadline(1_000),
  // Webhook receivers (OWASP API7, server-side request forgery; see src/notifications/webhook-url.ts).
  // Each request to a receiver (a delivery, the API's verification request), until its response
  // headers; its body is read within the same deadline.
  WEBHOOK_TIMEOUT_MS: deadline(10_000),
  // `true` lets webhooks reach plain http and loopback/private addresses: only the local stack sets
  // it (its receiver listens on 127.0.0.1). Default false; refused in production.
  WEBHOOK_ALLOW_LOCAL_RECEIVERS: bool.default(false),
  // The DNS-over-HTTPS resolver (JSON API, `application/dns-json`) that tells, before each request
  // to a receiver, what its host name resolves to now. Default Cloudflare's; https in production.
  WEBHOOK_DNS_RESOLVER: z.url({ protocol: /^https?$/ }).default("https://cloudflare-dns.com/dns-query"),
  // Metrics (README "Observability"): `off` records and flushes nothing (the benchmark's baseline).
  METRICS: z.enum(["on", "off"]).default("on"),
  // How long an isolate's counts wait before their flush to the aggregator (ms). Below the 30 s
  // Workers give `waitUntil` after a response, so the flush outlives the request that scheduled it.
  METRICS_FLUSH_INTERVAL_MS: z.coerce.number().int().min(0).max(25_000).default(10_000),
  // Aggregator shards (METRICS_AGGREGATOR objects `shard-0` …): each isolate sends to one picked at random.
  METRICS_SHARDS: z.coerce.number().int().min(1).max(64).default(4),
  // Traces (README "Traces"), named as OpenTelemetry's SDKs name them: the OTLP/HTTP endpoint
  // (`…/v1/traces`; empty: no traces), its headers (a secret: `key=value,key2=value2`, values
  // percent-encoded), and the share of new traces recorded (a request's `traceparent` decides for its own).
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optional(z.url({ protocol: /^https?$/ })),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: optional(
    z.string().transform((value, ctx) => {
      const headers: Record<string, string> = {};
      for (const pair of value.split(",").filter((part) => part.trim() !== "")) {
        const at = pair.indexOf("=");
        const name = pair.slice(0, at).trim();
        if (at <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
          ctx.issues.push({ code: "custom", message: "expected key=value pairs separated by commas", input: value });
          return z.NEVER;
        }
        headers[name] = decodeURIComponent(pair.slice(at + 1).trim());
      }
      return headers;
    }),
  ),
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(0.1),
};

const apiOnly = {
  // A read replica of DATABASE_URL (Neon's read replica: its own compute on the same storage). Reads
  // that may be a little stale go there (README, "Read replica and failover"); unset, everything
  // reads from the primary. Its deadline is short: past it the read is served by the primary.
  DATABASE_READ_URL: optional(z.url({ protocol: /^postgres(ql)?$/, error: "expected a postgres:// URL" })),
  DATABASE_READ_TIMEOUT_MS: deadline(2_000),
  // A replica read that finds the replica this far behind (seconds) is served by the primary; a
  // caller's own writes keep their reads on the primary for as long (read-your-writes).
  DATABASE_READ_MAX_LAG_SECONDS: seconds(1, 3_600).default(5),
  MAX_UPLOAD_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .max(5 * 1024 ** 4),
  // Per-user storage quotas (OWASP API4:2023), counted over the documents a user owns; admins are
  // exempt. Bytes of distinct stored objects (default 10 GiB), documents not deleted (default
  // 10,000), versions across them (default 50,000). A change past one is a 403 quota_exceeded.
  QUOTA_BYTES_PER_USER: byteCount(10 * 1024 ** 3),
  QUOTA_DOCUMENTS_PER_USER: z.coerce.number().int().positive().max(100_000_000).default(10_000),
  QUOTA_VERSIONS_PER_USER: z.coerce.number().int().positive().max(100_000_000).default(50_000),
  // Per-project storage quota: bytes of distinct stored objects across a project's documents
  // (default 50 GiB), whoever uploaded them; an upload past it is a 413.
  PROJECT_QUOTA_BYTES: byteCount(50 * 1024 ** 3),
  // How many live projects a user may own (each has its own storage quota): past it, creating one
  // is a 403 quota_exceeded. Admins are exempt.
  PROJECTS_PER_USER: z.coerce.number().int().positive().max(100_000).default(10),
  // Auth
  PUBLIC_URL: z.url({ protocol: /^https?$/ }),
  // The web app's address: account mails link to its pages (`/verify-email#token=…`,
  // `/reset-password#token=…`), which POST the token to the API. Default: PUBLIC_URL.
  APP_URL: optional(z.url({ protocol: /^https?$/ })),
  JWT_ISSUER: z.url(),
  JWT_AUDIENCE: z.string().min(1),
  // The client id (RFC 6749 §2.2) of our own apps, the one public client the token endpoint knows;
  // access tokens carry it as `client_id` (RFC 9068 §2.2). VSCHAR only (RFC 6749 Appendix A.1).
  OAUTH_CLIENT_ID: z
    .string()
    .regex(/^[\x20-\x7e]{1,255}$/)
    .default("techcorp-first-party"),
  // The registry of first-party OAuth clients (web app, native apps, CLI, resource servers),
  // as JSON; empty means the one client OAUTH_CLIENT_ID with the password, MFA and refresh grants.
  OAUTH_CLIENTS: optional(json(z.array(oauthClient).max(50))),
  // A secret per confidential client, by client id: {"techcorp-resource-server": "…"} (≥ 32 characters).
  OAUTH_CLIENT_SECRETS: optional(json(z.record(z.string(), z.string().min(32).max(256)))),
  JWT_SIGNING_KEYS: json(z.array(signingKey).min(1).max(3)),
  ACCESS_TOKEN_TTL_SECONDS: seconds(60, 3600).default(900),
  SESSION_IDLE_TIMEOUT_SECONDS: seconds(300, 90 * 86_400).default(14 * 86_400),
  SESSION_MAX_AGE_SECONDS: seconds(3600, 365 * 86_400).default(60 * 86_400),
  // API keys (src/auth/api-keys.ts): the lifetime given when `POST /api-keys` names none, the longest
  // one may ask for (GitLab's default maximum for access tokens is a year), and how many unrevoked
  // keys a user may hold (each lives in their SESSIONS object until revoked).
  API_KEY_DEFAULT_LIFETIME_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  API_KEY_MAX_LIFETIME_DAYS: z.coerce.number().int().min(1).max(3650).default(365),
  API_KEYS_PER_USER: z.coerce.number().int().positive().max(1000).default(50),
  // Staff accounts (admin, or any delegated permission): ASVS 4.0.3 V3.3.2's L2 lifetimes.
  STAFF_SESSION_IDLE_TIMEOUT_SECONDS: seconds(60, 90 * 86_400).default(30 * 60),
  STAFF_SESSION_MAX_AGE_SECONDS: seconds(600, 365 * 86_400).default(12 * 3600),
  // Production Workers refuse PBKDF2 above 100,000 iterations.
  PBKDF2_ITERATIONS: z.coerce.number().int().min(10_000).max(100_000),
  OIDC_PROVIDERS: optional(json(z.array(oidcProvider))),
  OIDC_CLIENT_SECRETS: optional(json(z.record(z.string(), z.string()))),
  // Each request to an OpenID provider (discovery, token, keys), body included.
  OIDC_TIMEOUT_MS: deadline(5_000),
  // `true` accepts http issuers and endpoints (the local stack's provider listens on plain http).
  // Default false: issuers and every endpoint they name must be https. Refused in production.
  OIDC_ALLOW_HTTP: bool.default(false),
  // Gateway
  CORS_ORIGINS: optional(z.string()),
  // What an unreachable rate limiter means (src/gateway/rate-limit-policies.ts, CREDENTIAL_POLICIES):
  // for the routes that take credentials or create accounts, `closed` (503) by default, since they
  // are what guessing and sign-up floods go through; for every other route `open` by default, so an
  // outage of the limiter does not stop signed-in users.
  RATE_LIMIT_FAILURE_MODE: z.enum(["open", "closed"]).default("open"),
  RATE_LIMIT_CREDENTIAL_FAILURE_MODE: z.enum(["open", "closed"]).default("closed"),
  RATE_LIMIT_POLICIES: optional(json(z.record(z.string(), z.array(rateWindow).min(1)))),
  // The Bearer token GET /metrics requires (a secret, ≥ 32 characters); unset, /metrics answers 404.
  METRICS_TOKEN: optional(z.string().min(32).max(512)),
  // The storage limits the scrape reports beside what is used (bytes): the Neon plan's storage,
  // and a budget for the documents bucket (R2 has no hard limit).
  POSTGRES_STORAGE_LIMIT_BYTES: byteCount(10 * 1024 ** 3),
  DOCUMENTS_STORAGE_BUDGET_BYTES: byteCount(1024 ** 4),
};

type Raw<S extends Record<string, z.ZodType>> = z.infer<z.ZodObject<S>>;

/** Staging and production refuse the local stack's stand-ins and allowances. */
function productionRules(raw: Partial<Raw<typeof common & typeof apiOnly>>, ctx: z.RefinementCtx): void {
  if (!isDeployed(raw.ENVIRONMENT)) return;
  const where = raw.ENVIRONMENT;
  if (raw.NEON_LOCAL_PROXY) {
    ctx.addIssue({ code: "custom", path: ["NEON_LOCAL_PROXY"], message: `must not be set in ${where}` });
  }
  if (!raw.S3_ENDPOINT) {
    ctx.addIssue({ code: "custom", path: ["S3_ENDPOINT"], message: `required in ${where} (R2 or S3 endpoint)` });
  }
  if (raw.WEBHOOK_ALLOW_LOCAL_RECEIVERS) {
    ctx.addIssue({
      code: "custom",
      path: ["WEBHOOK_ALLOW_LOCAL_RECEIVERS"],
      message: `must not be true in ${where}`,
    });
  }
  if (raw.WEBHOOK_DNS_RESOLVER && !raw.WEBHOOK_DNS_RESOLVER.startsWith("https:")) {
    ctx.addIssue({ code: "custom", path: ["WEBHOOK_DNS_RESOLVER"], message: `must be https in ${where}` });
  }
  if (raw.OIDC_ALLOW_HTTP) {
    ctx.addIssue({ code: "custom", path: ["OIDC_ALLOW_HTTP"], message: `must not be true in ${where}` });
  }
}

/**
 * An environment never points at another's data: a bucket named for a deployed environment
 * (src/pkg/config/environments.ts) only in that environment, and DATABASE_URL (a secret, which
 * wrangler cannot show) at the host the environment's own DATABASE_HOST var names. The
 * deploy-time check (scripts/environments.ts) makes sure no two environments' DATABASE_HOST, bucket
 * or queue names are the same, so together they refuse staging on production's database. The
 * messages never show the URL: its host is part of a secret.
 */
function environmentRules(raw: Partial<Raw<typeof common>>, ctx: z.RefinementCtx): void {
  for (const key of ["S3_BUCKET", "S3_THUMBNAILS_BUCKET"] as const) {
    const owner = bucketOwner(raw[key] ?? "");
    if (owner && owner !== raw.ENVIRONMENT) {
      ctx.addIssue({ code: "custom", path: [key], message: `is the ${owner} environment's bucket` });
    }
  }
  if (isDeployed(raw.ENVIRONMENT) && !raw.DATABASE_HOST) {
    ctx.addIssue({ code: "custom", path: ["DATABASE_HOST"], message: `required in ${raw.ENVIRONMENT}` });
  }
  if (raw.DATABASE_HOST && raw.DATABASE_URL && new URL(raw.DATABASE_URL).hostname !== raw.DATABASE_HOST) {
    ctx.addIssue({ code: "custom", path: ["DATABASE_URL"], message: "its host is not DATABASE_HOST" });
  }
}

/** OpenID issuers must be https unless OIDC_ALLOW_HTTP (OpenID Connect Discovery §3; RFC 8414 §2). */
function oidcRules(raw: Partial<Raw<typeof apiOnly>>, ctx: z.RefinementCtx): void {
  if (raw.OIDC_ALLOW_HTTP) return;
  for (const [index, provider] of (raw.OIDC_PROVIDERS ?? []).entries()) {
    if (!provider.issuer.startsWith("https://")) {
      ctx.addIssue({ code: "custom", path: ["OIDC_PROVIDERS", index, "issuer"], message: "must be an https URL" });
    }
  }
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]"]);

/**
 * What kind of redirect URI `value` is (RFC 8252 §7.1–§7.3), or undefined for one never allowed:
 * `localhost` is its own kind, a web app served locally over http (a secure context for browsers,
 * W3C Secure Contexts §3.1), which RFC 8252 §8.3 does not allow native apps.
 */
function redirectKind(value: string): "https" | "loopback" | "localhost" | "private-use" | undefined {
  const url = new URL(value);
  if (url.protocol === "https:") return "https";
  if (url.protocol === "http:") {
    if (LOOPBACK_HOSTS.has(url.hostname)) return "loopback";
    return url.hostname === "localhost" ? "localhost" : undefined;
  }
  // A private-use scheme names a domain the developer controls, reversed (RFC 8252 §7.1).
  return /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/.test(url.protocol) ? "private-use" : undefined;
}

/**
 * The OAuth client registry fails closed: unique ids; a secret for every confidential client and
 * none for a public one (RFC 6749 §2.1); the password and MFA grants only for our first-party
 * client (OAUTH_CLIENT_ID); redirect URIs for the authorization code grant, https for web clients,
 * and a loopback or private-use one only for native clients (RFC 8252 §7, §8.3); outside
 * production, a web client may also name http on a loopback IP or `localhost`: the web app under
 * `npm run dev`, which browsers treat as a secure context (W3C Secure Contexts §3.1).
 */
function clientRules(raw: Partial<Raw<typeof common & typeof apiOnly>>, ctx: z.RefinementCtx): void {
  const clients = raw.OAUTH_CLIENTS ?? [];
  const secrets = raw.OAUTH_CLIENT_SECRETS ?? {};
  const seen = new Set<string>();
  for (const [index, client] of clients.entries()) {
    const issue = (message: string, ...path: (string | number)[]) =>
      ctx.addIssue({ code: "custom", path: ["OAUTH_CLIENTS", index, ...path], message });
    if (seen.has(client.id)) issue(`client id ${client.id} is registered twice`, "id");
    seen.add(client.id);
    if (client.type === "confidential" && !secrets[client.id]) {
      ctx.addIssue({ code: "custom", path: ["OAUTH_CLIENT_SECRETS"], message: `no secret for ${client.id}` });
    }
    if (client.type === "public" && secrets[client.id]) {
      ctx.addIssue({ code: "custom", path: ["OAUTH_CLIENT_SECRETS"], message: `${client.id} is a public client` });
    }
    const firstPartyOnly = client.grantTypes.filter((g) => g === "password" || g.endsWith(":mfa-otp"));
    if (firstPartyOnly.length > 0 && client.id !== (raw.OAUTH_CLIENT_ID ?? "techcorp-first-party")) {
      issue("the password and MFA grants are for the first-party client (OAUTH_CLIENT_ID) only", "grantTypes");
    }
    if (client.grantTypes.includes("authorization_code") && client.redirectUris.length === 0) {
      issue("the authorization_code grant needs a redirect URI", "redirectUris");
    }
    for (const [at, uri] of client.redirectUris.entries()) {
      const kind = redirectKind(uri);
      const allowed =
        client.applicationType === "native"
          ? kind !== undefined && kind !== "localhost"
          : kind === "https" || ((kind === "loopback" || kind === "localhost") && !isDeployed(raw.ENVIRONMENT));
      if (!allowed) {
        issue(
          "https (for a web client outside production also http on localhost or a loopback IP), or for a native client an http loopback IP or a private-use scheme",
          "redirectUris",
          at,
        );
      }
    }
  }
  if (clients.length > 0 && !seen.has(raw.OAUTH_CLIENT_ID ?? "techcorp-first-party")) {
    ctx.addIssue({ code: "custom", path: ["OAUTH_CLIENTS"], message: "must register OAUTH_CLIENT_ID" });
  }
}

function cacheRules(raw: Partial<Raw<typeof common>>, ctx: z.RefinementCtx): void {
  if (raw.UPSTASH_REDIS_REST_URL && !raw.UPSTASH_REDIS_REST_TOKEN) {
    ctx.addIssue({
      code: "custom",
      path: ["UPSTASH_REDIS_REST_TOKEN"],
      message: "required with UPSTASH_REDIS_REST_URL",
    });
  }
  // Locally the cache may be off (no redis-server installed); a deployment must have one.
  if (isDeployed(raw.ENVIRONMENT) && !raw.UPSTASH_REDIS_REST_URL) {
    ctx.addIssue({ code: "custom", path: ["UPSTASH_REDIS_REST_URL"], message: `required in ${raw.ENVIRONMENT}` });
  }
}

const storage = (raw: Raw<typeof common>) => ({
  endpoint: raw.S3_ENDPOINT,
  region: raw.S3_REGION,
  bucket: raw.S3_BUCKET,
  thumbnailsBucket: raw.S3_THUMBNAILS_BUCKET,
  forcePathStyle: raw.S3_FORCE_PATH_STYLE,
  accessKeyId: raw.S3_ACCESS_KEY_ID,
  secretAccessKey: raw.S3_SECRET_ACCESS_KEY,
  timeoutMs: raw.S3_TIMEOUT_MS,
});

const base = (raw: Raw<typeof common>) => ({
  environment: raw.ENVIRONMENT,
  logLevel: raw.LOG_LEVEL,
  database: { url: raw.DATABASE_URL, localProxy: raw.NEON_LOCAL_PROXY, timeoutMs: raw.DATABASE_TIMEOUT_MS },
  storage: storage(raw),
  encryptionKey: { current: raw.DATA_ENCRYPTION_KEY, previous: raw.DATA_ENCRYPTION_KEY_PREVIOUS ?? [] },
  queueTimeoutMs: raw.QUEUE_TIMEOUT_MS,
  metrics: {
    enabled: raw.METRICS === "on",
    flushIntervalMs: raw.METRICS_FLUSH_INTERVAL_MS,
    shards: raw.METRICS_SHARDS,
  },
  tracing: {
    endpoint: raw.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    headers: raw.OTEL_EXPORTER_OTLP_TRACES_HEADERS ?? {},
    sampleRatio: raw.OTEL_TRACES_SAMPLER_ARG,
  },
  webhooks: {
    allowLocalReceivers: raw.WEBHOOK_ALLOW_LOCAL_RECEIVERS,
    dnsResolver: raw.WEBHOOK_DNS_RESOLVER,
    timeoutMs: raw.WEBHOOK_TIMEOUT_MS,
  },
  cache:
    raw.UPSTASH_REDIS_REST_URL && raw.UPSTASH_REDIS_REST_TOKEN
      ? { url: raw.UPSTASH_REDIS_REST_URL, token: raw.UPSTASH_REDIS_REST_TOKEN, timeoutMs: raw.REDIS_TIMEOUT_MS }
      : undefined,
});

/** The client registry with each confidential client's secret; the default when none is configured. */
function oauthClients(raw: Raw<typeof apiOnly>) {
  const clients: z.output<typeof oauthClient>[] = raw.OAUTH_CLIENTS?.length
    ? raw.OAUTH_CLIENTS
    : [
        {
          id: raw.OAUTH_CLIENT_ID,
          name: "TechCorp",
          type: "public",
          applicationType: "web",
          redirectUris: [],
          grantTypes: ["password", "refresh_token", "urn:techcorp:params:oauth:grant-type:mfa-otp"],
          defaultScopes: [],
        },
      ];
  return clients.map((client) => ({ ...client, secret: raw.OAUTH_CLIENT_SECRETS?.[client.id] }));
}

const apiSchema = z
  .object({ ...common, ...apiOnly })
  .superRefine(productionRules)
  .superRefine(environmentRules)
  .superRefine(cacheRules)
  .superRefine(oidcRules)
  .superRefine(clientRules)
  .transform((raw) => ({
    ...base(raw),
    readReplica: raw.DATABASE_READ_URL
      ? {
          url: raw.DATABASE_READ_URL,
          localProxy: raw.NEON_LOCAL_PROXY,
          timeoutMs: raw.DATABASE_READ_TIMEOUT_MS,
          maxLagSeconds: raw.DATABASE_READ_MAX_LAG_SECONDS,
        }
      : undefined,
    uploads: {
      maxBytes: raw.MAX_UPLOAD_BYTES,
      quota: {
        bytes: raw.QUOTA_BYTES_PER_USER,
        documents: raw.QUOTA_DOCUMENTS_PER_USER,
        versions: raw.QUOTA_VERSIONS_PER_USER,
      },
      projectQuotaBytes: raw.PROJECT_QUOTA_BYTES,
      projectsPerUser: raw.PROJECTS_PER_USER,
    },
    metricsEndpoint: {
      token: raw.METRICS_TOKEN,
      storageLimits: { postgres: raw.POSTGRES_STORAGE_LIMIT_BYTES, documents: raw.DOCUMENTS_STORAGE_BUDGET_BYTES },
    },
    publicUrl: raw.PUBLIC_URL.replace(/\/$/, ""),
    appUrl: (raw.APP_URL ?? raw.PUBLIC_URL).replace(/\/$/, ""),
    auth: {
      tokens: {
        issuer: raw.JWT_ISSUER,
        audience: raw.JWT_AUDIENCE,
        clientId: raw.OAUTH_CLIENT_ID,
        signingKeys: raw.JWT_SIGNING_KEYS,
        accessTokenTtlSeconds: raw.ACCESS_TOKEN_TTL_SECONDS,
      },
      clients: oauthClients(raw),
      sessionIdleTimeoutMs: raw.SESSION_IDLE_TIMEOUT_SECONDS * 1000,
      sessionMaxAgeMs: raw.SESSION_MAX_AGE_SECONDS * 1000,
      staffSessionIdleTimeoutMs: raw.STAFF_SESSION_IDLE_TIMEOUT_SECONDS * 1000,
      staffSessionMaxAgeMs: raw.STAFF_SESSION_MAX_AGE_SECONDS * 1000,
      pbkdf2Iterations: raw.PBKDF2_ITERATIONS,
      apiKeys: {
        // A default past the maximum is cut to it.
        defaultLifetimeMs: Math.min(raw.API_KEY_DEFAULT_LIFETIME_DAYS, raw.API_KEY_MAX_LIFETIME_DAYS) * 86_400_000,
        maxLifetimeMs: raw.API_KEY_MAX_LIFETIME_DAYS * 86_400_000,
        perUser: raw.API_KEYS_PER_USER,
      },
      oidcProviders: (raw.OIDC_PROVIDERS ?? []).map((provider) => ({
        ...provider,
        clientSecret: raw.OIDC_CLIENT_SECRETS?.[provider.id],
        timeoutMs: raw.OIDC_TIMEOUT_MS,
        allowHttp: raw.OIDC_ALLOW_HTTP,
      })),
    },
    gateway: {
      corsOrigins: (raw.CORS_ORIGINS ?? "")
        .split(",")
        .map((origin) => origin.trim())
        .filter(Boolean),
      rateLimitFailureMode: raw.RATE_LIMIT_FAILURE_MODE,
      rateLimitCredentialFailureMode: raw.RATE_LIMIT_CREDENTIAL_FAILURE_MODE,
      rateLimitPolicies: raw.RATE_LIMIT_POLICIES ?? {},
    },
  }));

const DAY_MS = 24 * 60 * 60 * 1000;

/** A retention in whole days, 1 to 100 years. */
const retentionDays = (days: number) => z.coerce.number().int().min(1).max(36_500).default(days);

const processorOnly = {
  // `required`: every version is scanned (unreachable clamd = retry). `off`: nothing is scanned
  // and each version records `skipped` — only ever by explicit choice.
  VIRUS_SCAN: z.enum(["required", "off"]),
  CLAMD_ADDRESS: optional(hostPort),
  // clamd: connecting, each write of the file, and its answer after the last byte.
  CLAMD_TIMEOUT_MS: deadline(60_000),
  // Mail submission (src/pkg/mail/smtp.ts): the server, how the connection is secured (`starttls`
  // on 587, `tls` on 465, `none` only outside production), the credentials (secrets), the sender
  // (`Name <address>` or `address`), and the deadline of each step of a session (ms). Without
  // SMTP_HOST (outside production only) mails are not sent: each is logged and dropped.
  SMTP_HOST: optional(z.string().regex(/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/, "expected a host name or address")),
  SMTP_PORT: z.coerce.number().int().min(1).max(65_535).default(587),
  SMTP_SECURITY: z.enum(["starttls", "tls", "none"]).default("starttls"),
  SMTP_USERNAME: optional(z.string().min(1)),
  SMTP_PASSWORD: optional(z.string().min(1)),
  MAIL_FROM: optional(
    z.string().transform((value, ctx): Mailbox => {
      const mailbox = parseMailbox(value);
      if (mailbox) return mailbox;
      ctx.issues.push({ code: "custom", message: "expected `Name <address>` or `address` (ASCII)", input: value });
      return z.NEVER;
    }),
  ),
  SMTP_TIMEOUT_MS: deadline(30_000),
  // How long each event table keeps its rows (days); the sweeper drops a month partition once its
  // newest possible row is older (src/processor/partitions.ts).
  AUDIT_RETENTION_DAYS: retentionDays(365),
  SEARCH_EVENTS_RETENTION_DAYS: retentionDays(365),
  NOTIFICATIONS_RETENTION_DAYS: retentionDays(365),
  WEBHOOK_DELIVERIES_RETENTION_DAYS: retentionDays(90),
  // Version retention (the sweeper): every document keeps its newest KEEP_LATEST versions (1–10,000,
  // default 20) and, of older ones, the newest of each UTC day for DAILY_DAYS days (0–36,500,
  // default 30); the rest go with their objects. The current version is never pruned.
  VERSION_RETENTION_KEEP_LATEST: z.coerce.number().int().min(1).max(10_000).default(20),
  VERSION_RETENTION_DAILY_DAYS: z.coerce.number().int().min(0).max(36_500).default(30),
};

/** SMTP needs its sender and both credentials or neither; production needs SMTP, and TLS. */
function mailRules(raw: Partial<Raw<typeof processorOnly>> & { ENVIRONMENT?: string }, ctx: z.RefinementCtx): void {
  const production = isDeployed(raw.ENVIRONMENT);
  if (production && !raw.SMTP_HOST) {
    ctx.addIssue({ code: "custom", path: ["SMTP_HOST"], message: `required in ${raw.ENVIRONMENT}` });
  }
  if (production && raw.SMTP_SECURITY === "none") {
    ctx.addIssue({ code: "custom", path: ["SMTP_SECURITY"], message: `must be starttls or tls in ${raw.ENVIRONMENT}` });
  }
  if (!raw.SMTP_HOST) return;
  if (!raw.MAIL_FROM) ctx.addIssue({ code: "custom", path: ["MAIL_FROM"], message: "required with SMTP_HOST" });
  if (!raw.SMTP_USERNAME !== !raw.SMTP_PASSWORD) {
    const missing = raw.SMTP_USERNAME ? "SMTP_PASSWORD" : "SMTP_USERNAME";
    ctx.addIssue({ code: "custom", path: [missing], message: "SMTP_USERNAME and SMTP_PASSWORD go together" });
  }
  if (production && !raw.SMTP_USERNAME) {
    ctx.addIssue({ code: "custom", path: ["SMTP_USERNAME"], message: `required in ${raw.ENVIRONMENT} (SMTP AUTH)` });
  }
}

const processorSchema = z
  .object({ ...common, ...processorOnly })
  .superRefine(productionRules)
  .superRefine(environmentRules)
  .superRefine(cacheRules)
  .superRefine((raw, ctx) => {
    if (raw.VIRUS_SCAN === "required" && !raw.CLAMD_ADDRESS) {
      ctx.addIssue({ code: "custom", path: ["CLAMD_ADDRESS"], message: "required when VIRUS_SCAN is required" });
    }
  })
  .superRefine(mailRules)
  .transform((raw) => ({
    ...base(raw),
    virusScan:
      raw.VIRUS_SCAN === "required" && raw.CLAMD_ADDRESS
        ? { address: raw.CLAMD_ADDRESS, timeoutMs: raw.CLAMD_TIMEOUT_MS }
        : undefined,
    mail:
      raw.SMTP_HOST && raw.MAIL_FROM
        ? {
            from: raw.MAIL_FROM,
            smtp: {
              host: raw.SMTP_HOST,
              port: raw.SMTP_PORT,
              security: raw.SMTP_SECURITY,
              credentials:
                raw.SMTP_USERNAME && raw.SMTP_PASSWORD
                  ? { username: raw.SMTP_USERNAME, password: raw.SMTP_PASSWORD }
                  : undefined,
              timeoutMs: raw.SMTP_TIMEOUT_MS,
            },
          }
        : undefined,
    retention: {
      auditMs: raw.AUDIT_RETENTION_DAYS * DAY_MS,
      searchEventsMs: raw.SEARCH_EVENTS_RETENTION_DAYS * DAY_MS,
      notificationsMs: raw.NOTIFICATIONS_RETENTION_DAYS * DAY_MS,
      webhookDeliveriesMs: raw.WEBHOOK_DELIVERIES_RETENTION_DAYS * DAY_MS,
    },
    versionRetention: { keepLatest: raw.VERSION_RETENTION_KEEP_LATEST, dailyDays: raw.VERSION_RETENTION_DAILY_DAYS },
  }));

/**
 * Every variable each worker reads. Each is declared in the worker's wrangler configuration
 * (`[vars]`, or `[secrets] required`): `wrangler dev` binds only declared names from the env files
 * the local stack and a developer's `.dev.vars` provide, so an undeclared one would be silently
 * dropped there (a test keeps the lists and the configurations in step).
 */
export const API_VARIABLES: readonly string[] = Object.keys({ ...common, ...apiOnly });
export const PROCESSOR_VARIABLES: readonly string[] = Object.keys({ ...common, ...processorOnly });

/**
 * The API worker's configuration, parsed: durations are in ms (`…Ms`: `sessionIdleTimeoutMs`,
 * `sessionMaxAgeMs`, every dependency's `timeoutMs`) except the token lifetime in s
 * (`accessTokenTtlSeconds`, as JWT `exp` counts); sizes in bytes (`uploads.maxBytes`,
 * `uploads.quota.bytes`); `publicUrl` without a trailing slash; `cache` undefined when no Upstash
 * Redis is configured (local only: production requires one).
 */
export type ApiConfig = z.output<typeof apiSchema>;
/**
 * The processor worker's configuration: the part it shares with `ApiConfig`, `virusScan`
 * (clamd's address and per-step `timeoutMs`; undefined when `VIRUS_SCAN=off`), `mail` (the
 * sender and the SMTP server, its per-step `timeoutMs`; undefined without SMTP_HOST, which only
 * a configuration outside production may leave unset), `retention` (how long each event table
 * keeps its rows, in ms: `auditMs`, `searchEventsMs`, `notificationsMs`, `webhookDeliveriesMs`,
 * from the `…_RETENTION_DAYS` variables) and `versionRetention` (`keepLatest` versions, one a day
 * for `dailyDays` days: `VERSION_RETENTION_*`, src/documents/retention.ts).
 */
export type ProcessorConfig = z.output<typeof processorSchema>;
/**
 * One S3-compatible store: `endpoint` its URL (required in production; without it the SDK would
 * address AWS S3 in `region`); `timeoutMs` bounds each request until its response headers, and
 * each silence while a body is read (`S3_TIMEOUT_MS`, default 30,000 ms).
 */
export type StorageConfig = ApiConfig["storage"];
/**
 * Postgres: `url` the pooled connection string (Neon's `-pooler` endpoint); `localProxy` the local
 * stack's Neon proxy (`host:port`, refused in production); `timeoutMs` bounds connecting and each
 * statement (`DATABASE_TIMEOUT_MS`, default 10,000 ms).
 */
export type DatabaseConfig = ApiConfig["database"];
/**
 * The read replica (`DATABASE_READ_URL`), when set: `timeoutMs` bounds each replica read
 * (`DATABASE_READ_TIMEOUT_MS`, default 2,000 ms), past which the primary serves it;
 * `maxLagSeconds` (`DATABASE_READ_MAX_LAG_SECONDS`, default 5) is both the replay lag past which
 * the primary serves a replica read and how long a caller's reads stay on the primary after their write.
 */
export type ReadReplicaConfig = NonNullable<ApiConfig["readReplica"]>;
/** Upstash Redis's REST endpoint and token; `timeoutMs` bounds each command (`REDIS_TIMEOUT_MS`, default 1,000 ms). */
export type CacheConfig = NonNullable<ApiConfig["cache"]>;
/** The sender and the SMTP submission server of the processor's mails. */
export type MailConfig = NonNullable<ProcessorConfig["mail"]>;
/** The least severe level written (`LOG_LEVEL`, default `info`). */
export type LogLevel = ApiConfig["logLevel"];
/**
 * Metrics: `enabled` (METRICS), `flushIntervalMs` (how long an isolate's counts wait for their flush,
 * ms), `shards` (aggregator objects).
 */
export type MetricsConfig = ApiConfig["metrics"];
/** Tokens, sessions (ms), PBKDF2 iterations and OpenID providers of the API. */
export type AuthConfig = ApiConfig["auth"];
/** CORS origins, rate-limit policies and what an unreachable limiter means (`open`: let through, `closed`: 503). */
export type GatewayConfig = ApiConfig["gateway"];

/**
 * Configuration that failed validation; `problems` names each variable and what is wrong
 * (`"DATABASE_URL: expected a postgres:// URL"`), never its value, since values may be secrets.
 */
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
/**
 * A registered OAuth client (`OAUTH_CLIENTS`): `secret` set exactly for confidential clients
 * (`OAUTH_CLIENT_SECRETS`), redirect URIs as registered, the grant types it may use.
 */
export type OAuthClientConfig = AuthConfig["clients"][number];
