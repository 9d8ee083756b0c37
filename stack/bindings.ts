import { localOAuthClients } from "./oauth-clients.ts";
import type { LocalSecrets } from "./secrets.ts";

export const DOCUMENTS_BUCKET = "techcorp-documents";
export const THUMBNAILS_BUCKET = "techcorp-thumbnails";
/** The sender of the local stack's mails. */
export const MAIL_FROM = "TechCorp <no-reply@techcorp.test>";
/** Our client id at the local OpenID provider. */
export const OIDC_CLIENT_ID = "techcorp-api";

/** Where a stack's services answer and the secrets it made up: what `workerBindings` turns into bindings. */
export interface StackEndpoints {
  /** Dev keeps data and logs at debug; tests log errors only. */
  mode: "dev" | "test";
  /** The app's database URL (PgBouncer when it runs, else Postgres). */
  databaseUrl: string;
  /** Postgres itself, for migrations and admin scripts (Neon's DATABASE_URL_UNPOOLED). */
  directUrl: string;
  /** The streaming replica, when the stack runs one (stack/postgres-replica.ts): the app's DATABASE_READ_URL. */
  readUrl?: string;
  /** The Neon WebSocket proxy as host:port, when the database is local. */
  neonProxy?: string;
  /** The Upstash-compatible REST endpoint and its token; without one the cache is off. */
  upstash?: { url: string; token: string };
  s3: { endpoint: string; accessKeyId: string; secretAccessKey: string };
  /** Where the API answers (token issuer, OAuth redirects). */
  publicUrl: string;
  /** clamd as host:port; without one VIRUS_SCAN is off. */
  clamd?: string;
  secrets: LocalSecrets;
  /** The local OpenID provider (registered as "local") and our client's secret there. */
  oidc: { issuer: string; clientSecret: string };
  /** The local SMTP server (plain SMTP + AUTH on loopback) and its web inbox. */
  mail: { host: string; port: number; username: string; password: string; inboxUrl: string };
  /** The local OTLP/HTTP receiver (stack/otlp-receiver.ts): its base URL and its `/v1/traces` endpoint. */
  traces: { url: string; tracesEndpoint: string };
}

/**
 * The variables and secrets both workers get from a stack (they override wrangler.toml's [vars]).
 * Pure, and cheap to import (no service's package): the unit tests build the same bindings with
 * addresses where nothing listens (test/unit/worker.ts).
 */
export function workerBindings(endpoints: StackEndpoints): Record<string, string> {
  const { mode, upstash, s3, publicUrl, clamd } = endpoints;
  return {
    ENVIRONMENT: mode === "dev" ? "development" : "test",
    LOG_LEVEL: mode === "dev" ? "debug" : "error",
    DATABASE_URL: endpoints.databaseUrl,
    // Declared as a secret (wrangler.toml), so set: empty without a replica.
    DATABASE_READ_URL: endpoints.readUrl ?? "",
    // Not read by the workers: for migrations, admin scripts and tests that need a session.
    DATABASE_URL_UNPOOLED: endpoints.directUrl,
    NEON_LOCAL_PROXY: endpoints.neonProxy ?? "",
    UPSTASH_REDIS_REST_URL: upstash?.url ?? "",
    UPSTASH_REDIS_REST_TOKEN: upstash?.token ?? "",
    S3_ENDPOINT: s3.endpoint,
    S3_REGION: "us-east-1",
    S3_BUCKET: DOCUMENTS_BUCKET,
    S3_THUMBNAILS_BUCKET: THUMBNAILS_BUCKET,
    S3_FORCE_PATH_STYLE: "true",
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    PUBLIC_URL: publicUrl,
    JWT_ISSUER: publicUrl,
    JWT_AUDIENCE: "techcorp-api",
    VIRUS_SCAN: clamd ? "required" : "off",
    CLAMD_ADDRESS: clamd ?? "",
    ...endpoints.secrets,
    OIDC_PROVIDERS: JSON.stringify([
      { id: "local", name: "Local OpenID provider", issuer: endpoints.oidc.issuer, clientId: OIDC_CLIENT_ID },
    ]),
    OIDC_CLIENT_SECRETS: JSON.stringify({ local: endpoints.oidc.clientSecret }),
    // `npm run dev` serves the web app at PUBLIC_URL: its sign-in callback is registered there.
    OAUTH_CLIENTS: JSON.stringify(localOAuthClients(mode === "dev" ? publicUrl : undefined)),
    // The local receivers and provider listen on plain http at 127.0.0.1; production refuses both.
    WEBHOOK_ALLOW_LOCAL_RECEIVERS: "true",
    OIDC_ALLOW_HTTP: "true",
    // The local SMTP server speaks plain SMTP with AUTH (no certificate workerd would trust);
    // production refuses SMTP_SECURITY=none.
    SMTP_HOST: endpoints.mail.host,
    SMTP_PORT: String(endpoints.mail.port),
    SMTP_SECURITY: "none",
    SMTP_USERNAME: endpoints.mail.username,
    SMTP_PASSWORD: endpoints.mail.password,
    MAIL_FROM,
    // Counts reach the aggregator soon after the request that made them: tests read them back,
    // developers watch them in Prometheus (production waits 10 s, wrangler.toml).
    METRICS_FLUSH_INTERVAL_MS: mode === "dev" ? "2000" : "50",
    // Not read by the workers: where tests and developers read the delivered mails (test/mail-helpers.ts).
    MAIL_INBOX_URL: endpoints.mail.inboxUrl,
    // Spans go to the stack's OTLP receiver, every trace of them (production samples a fraction).
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: endpoints.traces.tracesEndpoint,
    OTEL_TRACES_SAMPLER_ARG: "1",
    // No earlier data encryption key (docs/runbook.md, rotation); declared as a secret, so set, empty.
    DATA_ENCRYPTION_KEY_PREVIOUS: "",
    // The local receiver asks for no credentials; declared (a secret in production), so set, empty.
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: "",
    // Not read by the workers: where tests and developers read the received spans (GET /api/traces/{traceId}).
    OTLP_RECEIVER_URL: endpoints.traces.url,
  };
}
