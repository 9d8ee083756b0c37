import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { CLAMD_INSTALL_HINT, type Clamd, findClamd, startClamd } from "./clamd.ts";
import { applyMigrations } from "./migrate.ts";
import { type NeonProxy, startNeonProxy } from "./neon-proxy.ts";
import { type OidcProvider, startOidcProvider } from "./oidc-provider.ts";
import { freePort, portOrFree } from "./ports.ts";
import { type PostgresServer, startPostgres } from "./postgres.ts";
import { findRedisServer, REDIS_INSTALL_HINT, type RedisServer, startRedis } from "./redis.ts";
import { type S3Server, startS3 } from "./s3.ts";
import { localSecrets } from "./secrets.ts";
import { startUpstashRest, type UpstashRest } from "./upstash-rest.ts";

export const DOCUMENTS_BUCKET = "techcorp-documents";
export const THUMBNAILS_BUCKET = "techcorp-thumbnails";
/** clamd's stream limit; above the API's upload limit (wrangler.toml MAX_UPLOAD_BYTES). */
const CLAMD_MAX_STREAM_BYTES = 1024 * 1024 * 1024;

export interface StackOptions {
  /** Everything the services keep goes below this folder. */
  dataDir: string;
  /** Dev keeps data and prefers stable ports; tests use throwaway data and free ports. */
  mode: "dev" | "test";
  /** An external Postgres to use instead of starting one (dev only). */
  databaseUrl?: string;
  /** A Neon proxy to share (the Workers runtime keeps one proxy setting per isolate); else one is started. */
  neonProxy?: NeonProxy;
  /** Where the API answers (token issuer, OAuth redirects); http://localhost:8787 by default. */
  publicUrl?: string;
  /** Without redis-server: "optional" runs with the cache off, "required" fails with how to install it. */
  redis: "optional" | "required";
  /**
   * Without clamd: "optional" runs with VIRUS_SCAN=off (each version records it was not scanned),
   * "required" fails with how to install it.
   */
  virusScan: "optional" | "required";
  /** A clamd to share (it takes seconds to start); else one is started when installed. */
  clamd?: Clamd;
  log?: (line: string) => void;
}

export interface Stack {
  /** Variables and secrets for both workers, pointing at this stack. */
  readonly env: Record<string, string>;
  readonly postgres: PostgresServer | undefined;
  readonly neonProxy: NeonProxy | undefined;
  readonly redis: RedisServer | undefined;
  readonly upstash: UpstashRest | undefined;
  readonly s3: S3Server;
  readonly clamd: Clamd | undefined;
  readonly oidc: OidcProvider;
  /** One line per service: what it is and where. */
  describe(): string[];
  stop(): Promise<void>;
}

const DEV_PORTS = {
  postgres: 54329,
  neonProxy: 54330,
  redis: 63790,
  upstash: 63791,
  s3: 54569,
  oidc: 54570,
  clamd: 54571,
};
const OIDC_CLIENT_ID = "techcorp-api";

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === "localhost" || host === "127.0.0.1" || host === "::1" || host === "[::1]";
}

/** Starts Postgres (+ Neon proxy), Redis (+ Upstash REST) and S3 on loopback and applies migrations. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const log = options.log ?? (() => {});
  const port = (name: keyof typeof DEV_PORTS) => (options.mode === "dev" ? portOrFree(DEV_PORTS[name]) : freePort());
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stoppers.splice(0).reverse()) await stop().catch(() => {});
  };
  await mkdir(options.dataDir, { recursive: true });

  try {
    // Postgres, and the Neon WebSocket proxy when the database is local.
    let postgres: PostgresServer | undefined;
    let databaseUrl = options.databaseUrl;
    if (!databaseUrl) {
      postgres = await startPostgres({
        dataDir: path.join(options.dataDir, "postgres"),
        port: await port("postgres"),
        database: "techcorp",
        password: options.mode === "dev" ? "postgres" : randomBytes(12).toString("hex"),
        app: { role: "techcorp_app", password: options.mode === "dev" ? "techcorp" : randomBytes(12).toString("hex") },
        logFile: path.join(options.dataDir, "postgres.log"),
      });
      stoppers.push(() => postgres?.stop() ?? Promise.resolve());
      databaseUrl = postgres.url;
    }
    let neonProxy: NeonProxy | undefined;
    if (isLoopback(databaseUrl)) {
      neonProxy = options.neonProxy;
      if (!neonProxy) {
        const started = await startNeonProxy({ port: await port("neonProxy") });
        stoppers.push(() => started.close());
        neonProxy = started;
      }
      neonProxy.allow(Number(new URL(databaseUrl).port || 5432));
    }
    await applyMigrations(databaseUrl);

    // Redis behind the Upstash REST protocol.
    let redis: RedisServer | undefined;
    let upstash: UpstashRest | undefined;
    const redisToken = options.mode === "dev" ? "local-dev-token" : randomBytes(16).toString("hex");
    const redisBinary = findRedisServer();
    if (redisBinary) {
      redis = await startRedis(redisBinary, {
        port: await port("redis"),
        dataDir: path.join(options.dataDir, "redis"),
        persistent: options.mode === "dev",
      });
      stoppers.push(() => redis?.stop() ?? Promise.resolve());
      upstash = await startUpstashRest({
        port: await port("upstash"),
        token: redisToken,
        redis: { host: "127.0.0.1", port: redis.port },
      });
      stoppers.push(() => upstash?.close() ?? Promise.resolve());
    } else if (options.redis === "required") {
      throw new Error(REDIS_INSTALL_HINT);
    } else {
      log(`cache off: ${REDIS_INSTALL_HINT}`);
    }

    const s3 = await startS3({
      port: await port("s3"),
      directory: path.join(options.dataDir, "s3"),
      buckets: [DOCUMENTS_BUCKET, THUMBNAILS_BUCKET],
    });
    stoppers.push(() => s3.stop());

    // ClamAV with a local signature database (the EICAR test signature; nothing downloaded).
    let clamd = options.clamd;
    if (!clamd) {
      const clamdBinary = findClamd();
      if (clamdBinary) {
        const started = await startClamd(clamdBinary, {
          port: await port("clamd"),
          dataDir: path.join(options.dataDir, "clamd"),
          maxStreamBytes: CLAMD_MAX_STREAM_BYTES,
        });
        stoppers.push(() => started.stop());
        clamd = started;
      } else if (options.virusScan === "required") {
        throw new Error(CLAMD_INSTALL_HINT);
      } else {
        log(`virus scanning off (VIRUS_SCAN=off): ${CLAMD_INSTALL_HINT}`);
      }
    }

    const secrets = await localSecrets(options.mode === "dev" ? path.join(options.dataDir, "secrets.json") : undefined);
    const publicUrl = options.publicUrl ?? "http://localhost:8787";

    // A real OpenID provider for third-party login, registered with our callback.
    const oidcSecret = randomBytes(16).toString("hex");
    const oidc = await startOidcProvider({
      port: await port("oidc"),
      client: { id: OIDC_CLIENT_ID, secret: oidcSecret, redirectUris: [`${publicUrl}/auth/oidc/local/callback`] },
    });
    stoppers.push(() => oidc.close());
    const env: Record<string, string> = {
      ENVIRONMENT: options.mode === "dev" ? "development" : "test",
      LOG_LEVEL: options.mode === "dev" ? "debug" : "error",
      DATABASE_URL: databaseUrl,
      NEON_LOCAL_PROXY: neonProxy?.address ?? "",
      UPSTASH_REDIS_REST_URL: upstash?.url ?? "",
      UPSTASH_REDIS_REST_TOKEN: upstash ? redisToken : "",
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
      CLAMD_ADDRESS: clamd?.address ?? "",
      ...secrets,
      OIDC_PROVIDERS: JSON.stringify([{ id: "local", issuer: oidc.issuer, clientId: OIDC_CLIENT_ID }]),
      OIDC_CLIENT_SECRETS: JSON.stringify({ local: oidcSecret }),
      // The local receivers and provider listen on plain http at 127.0.0.1; production refuses both.
      WEBHOOK_ALLOW_LOCAL_RECEIVERS: "true",
      OIDC_ALLOW_HTTP: "true",
    };

    return {
      env,
      postgres,
      neonProxy,
      redis,
      upstash,
      s3,
      clamd,
      oidc,
      describe: () => [
        `postgres      ${redact(databaseUrl)}${postgres ? " (embedded)" : " (external)"}`,
        neonProxy ? `neon proxy    ws://${neonProxy.address}/v2` : "neon proxy    not needed (remote database)",
        redis && upstash
          ? `redis         127.0.0.1:${redis.port}, Upstash REST at ${upstash.url}`
          : "redis         off (cache disabled)",
        `s3            ${s3.endpoint} (buckets ${DOCUMENTS_BUCKET}, ${THUMBNAILS_BUCKET})`,
        clamd
          ? `clamd         ${clamd.address} (EICAR test signature only)`
          : "clamd         off (documents are not scanned)",
        `openid        ${oidc.issuer} (third-party login: ${publicUrl}/auth/oidc/local/authorize)`,
      ],
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = "***";
  return parsed.toString();
}
