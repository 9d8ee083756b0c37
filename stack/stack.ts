import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { DOCUMENTS_BUCKET, OIDC_CLIENT_ID, THUMBNAILS_BUCKET, workerBindings } from "./bindings.ts";
import { CLAMD_INSTALL_HINT, type Clamd, findClamd, startClamd } from "./clamd.ts";
import { createRoundTripMeter, type RoundTripMeter, type RoundTripServer, startRoundTripServer } from "./distance.ts";
import { applyMigrations } from "./migrate.ts";
import { type NeonProxy, startNeonProxy } from "./neon-proxy.ts";
import { type OidcProvider, startOidcProvider } from "./oidc-provider.ts";
import { type OtlpReceiver, startOtlpReceiver } from "./otlp-receiver.ts";
import { findPgBouncer, PGBOUNCER_INSTALL_HINT, type PgBouncer, startPgBouncer } from "./pgbouncer.ts";
import { freePort, portOrFree } from "./ports.ts";
import { type PostgresServer, startPostgres } from "./postgres.ts";
import { type ReplicaServer, startReplica } from "./postgres-replica.ts";
import { findPrometheus, PROMETHEUS_INSTALL_HINT, type Prometheus, startPrometheus } from "./prometheus.ts";
import { findRedisServer, REDIS_INSTALL_HINT, type RedisServer, startRedis } from "./redis.ts";
import { type S3Server, startS3 } from "./s3.ts";
import { localSecrets } from "./secrets.ts";
import { type MailServer, startMailServer } from "./smtp.ts";
import { startUpstashRest, type UpstashRest } from "./upstash-rest.ts";

/** clamd's stream limit; above the API's upload limit (wrangler.toml MAX_UPLOAD_BYTES). */
const CLAMD_MAX_STREAM_BYTES = 1024 * 1024 * 1024;

export interface StackOptions {
  /** Everything the services keep goes below this folder. */
  dataDir: string;
  /** Dev keeps data and prefers stable ports; tests use throwaway data and free ports. */
  mode: "dev" | "test";
  /** An external Postgres to use instead of starting one (dev only). */
  databaseUrl?: string;
  /**
   * Also start a streaming replica of the stack's Postgres (stack/postgres-replica.ts) and give
   * the API its address as DATABASE_READ_URL (STACK_READ_REPLICA=1). Off by default: it doubles
   * Postgres's memory and start-up, and only the replica's tests and the failover drill need it.
   */
  readReplica?: boolean;
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
  /**
   * Without pgbouncer: "optional" points the app straight at Postgres (one backend per request),
   * "required" fails with how to install it.
   */
  pooler: "optional" | "required";
  /**
   * The round-trip meter the stack's proxies share (stack/distance.ts); else one is created with
   * `rttMs` (default 0) and served over HTTP (`Stack.meterUrl`).
   */
  meter?: RoundTripMeter;
  /** Round-trip time to the data services in ms when the stack creates its meter (STACK_RTT_MS). */
  rttMs?: number;
  /**
   * `host:port` of the API (`npm run dev`: 127.0.0.1:$PORT): a Prometheus scrapes its `/metrics`
   * with the stack's METRICS_TOKEN, or, when prometheus is not installed, one line says how to
   * install it and the stack runs without. Without a target none is started (a test starts its own
   * once it serves the API: test/node/prometheus.test.ts).
   */
  scrapeTarget?: string;
  log?: (line: string) => void;
}

export interface Stack {
  /** Variables and secrets for both workers, pointing at this stack. */
  readonly env: Record<string, string>;
  readonly postgres: PostgresServer | undefined;
  /** The streaming replica, when `readReplica` asked for one. */
  readonly replica: ReplicaServer | undefined;
  readonly neonProxy: NeonProxy | undefined;
  /** PgBouncer in transaction mode, Neon's pooled endpoint; DATABASE_URL points at it when it runs. */
  readonly pgbouncer: PgBouncer | undefined;
  /**
   * The database endpoint as the app sees it, for outage tests: `stop`/`start` take PgBouncer and
   * Postgres down and up together (a client is refused at once, as by a database that is down);
   * `pause` freezes Postgres only, so the pooler accepts and nothing answers.
   */
  readonly database: ServiceControl | undefined;
  readonly redis: RedisServer | undefined;
  readonly upstash: UpstashRest | undefined;
  readonly s3: S3Server;
  readonly clamd: Clamd | undefined;
  readonly oidc: OidcProvider;
  /** The SMTP server the processor sends through, and its web inbox. */
  readonly mail: MailServer;
  /** The OTLP/HTTP receiver both workers export their spans to, and its pages and API. */
  readonly traces: OtlpReceiver;
  /** Prometheus scraping the API's `/metrics`, when a scrape target was given and it is installed. */
  readonly prometheus: Prometheus | undefined;
  readonly meter: RoundTripMeter;
  /** The meter's HTTP interface (`GET /round-trips`, …), when this stack created the meter. */
  readonly meterUrl: string | undefined;
  /** One line per service: what it is and where. */
  describe(): string[];
  stop(): Promise<void>;
}

export interface ServiceControl {
  start(): Promise<void>;
  stop(): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
}

const DEV_PORTS = {
  postgres: 54329,
  replica: 54576,
  neonProxy: 54330,
  redis: 63790,
  upstash: 63791,
  s3: 54569,
  oidc: 54570,
  clamd: 54571,
  pgbouncer: 54572,
  meter: 54573,
  smtp: 54574,
  inbox: 54575,
  // OTLP/HTTP's default port.
  traces: 4318,
  // Prometheus's own default port.
  prometheus: 9090,
};

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
  let meter = options.meter;
  let meterServer: RoundTripServer | undefined;
  if (!meter) {
    meter = createRoundTripMeter(options.rttMs ?? 0);
    meterServer = await startRoundTripServer(meter, await port("meter"));
    const started = meterServer;
    stoppers.push(() => started.close());
  }

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
    // Neon's pooled endpoint: PgBouncer in transaction mode; the app connects there, migrations
    // and admin scripts straight to Postgres (DATABASE_URL_UNPOOLED, as Neon names it).
    const directUrl = databaseUrl;
    let pgbouncer: PgBouncer | undefined;
    if (postgres) {
      const binary = findPgBouncer();
      if (binary) {
        const app = new URL(postgres.url);
        pgbouncer = await startPgBouncer(binary, {
          port: await port("pgbouncer"),
          dataDir: path.join(options.dataDir, "pgbouncer"),
          postgres: { host: "127.0.0.1", port: postgres.port },
          users: [{ name: decodeURIComponent(app.username), password: decodeURIComponent(app.password) }],
          // Neon: 90 % of max_connections (Postgres's default 100 here).
          poolSize: 90,
        });
        stoppers.push(() => pgbouncer?.stop() ?? Promise.resolve());
        app.port = String(pgbouncer.port);
        databaseUrl = app.toString();
      } else if (options.pooler === "required") {
        throw new Error(PGBOUNCER_INSTALL_HINT);
      } else {
        log(`no connection pooling (each request opens its own Postgres backend): ${PGBOUNCER_INSTALL_HINT}`);
      }
    }
    let neonProxy: NeonProxy | undefined;
    if (isLoopback(databaseUrl)) {
      neonProxy = options.neonProxy;
      if (!neonProxy) {
        const started = await startNeonProxy({ port: await port("neonProxy"), meter });
        stoppers.push(() => started.close());
        neonProxy = started;
      }
      neonProxy.allow(Number(new URL(databaseUrl).port || 5432));
      neonProxy.allow(Number(new URL(directUrl).port || 5432));
    }
    await applyMigrations(directUrl);

    // The replica after the migrations, so its base backup already holds the schema.
    let replica: ReplicaServer | undefined;
    if (options.readReplica && postgres) {
      replica = await startReplica({
        primaryAdminUrl: postgres.adminUrl,
        primaryDataDir: path.join(options.dataDir, "postgres"),
        dataDir: path.join(options.dataDir, "postgres-replica"),
        port: await port("replica"),
        logFile: path.join(options.dataDir, "postgres-replica.log"),
      });
      const started = replica;
      stoppers.push(() => started.stop());
      neonProxy?.allow(replica.port);
    }

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
        meter,
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
      meter,
    });
    stoppers.push(() => s3.close());

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

    // A real OpenID provider for third-party login, registered with our callback (and the same on
    // 127.0.0.1 at any port: the clients' tests serve the API on their own).
    const oidcSecret = randomBytes(16).toString("hex");
    const callbackPath = "/auth/oidc/local/callback";
    const oidc = await startOidcProvider({
      port: await port("oidc"),
      client: {
        id: OIDC_CLIENT_ID,
        secret: oidcSecret,
        redirectUris: [`${publicUrl}${callbackPath}`, `http://127.0.0.1${callbackPath}`],
      },
    });
    stoppers.push(() => oidc.close());

    // A real SMTP server that requires AUTH, and the inbox where its mails are read.
    const mail = await startMailServer({
      smtpPort: await port("smtp"),
      inboxPort: await port("inbox"),
      username: "techcorp",
      password: options.mode === "dev" ? "local-mail-password" : randomBytes(12).toString("hex"),
    });
    stoppers.push(() => mail.close());

    // The OTLP/HTTP receiver the workers export spans to; dev keeps them in .local/ across restarts.
    const traces = await startOtlpReceiver({
      port: await port("traces"),
      ...(options.mode === "dev" ? { file: path.join(options.dataDir, "traces.jsonl") } : {}),
    });
    stoppers.push(() => traces.close());

    // Prometheus, scraping the API the caller serves.
    let prometheus: Prometheus | undefined;
    if (options.scrapeTarget) {
      const binary = findPrometheus();
      if (binary) {
        const started = await startPrometheus(binary, {
          port: await port("prometheus"),
          dataDir: path.join(options.dataDir, "prometheus"),
          target: options.scrapeTarget,
          token: secrets.METRICS_TOKEN,
          // Every 5 s, not production's 15–60 s: a request shows in a query within seconds, and a
          // rate() over a minute already has a dozen samples. One local API process pays nothing for it.
          scrapeIntervalSeconds: 5,
          // Enough to look back over a few days of work; the TSDB in .local/ stays small.
          retention: options.mode === "dev" ? "3d" : "1h",
        });
        stoppers.push(() => started.stop());
        prometheus = started;
      } else {
        log(`no metrics scraping: ${PROMETHEUS_INSTALL_HINT}`);
      }
    }

    const env = workerBindings({
      mode: options.mode,
      databaseUrl,
      directUrl,
      readUrl: replica && postgres ? replica.urlFor(postgres.url) : undefined,
      neonProxy: neonProxy?.address,
      upstash: upstash && { url: upstash.url, token: redisToken },
      s3,
      publicUrl,
      clamd: clamd?.address,
      secrets,
      oidc: { issuer: oidc.issuer, clientSecret: oidcSecret },
      mail: {
        host: "127.0.0.1",
        port: mail.smtpPort,
        username: mail.username,
        password: mail.password,
        inboxUrl: mail.inboxUrl,
      },
      traces: { url: traces.url, tracesEndpoint: traces.tracesEndpoint },
    });

    return {
      env,
      postgres,
      replica,
      neonProxy,
      pgbouncer,
      database: postgres && {
        async start() {
          await postgres.start();
          await pgbouncer?.start();
        },
        async stop() {
          await pgbouncer?.stop();
          await postgres.stop();
        },
        pause: () => postgres.pause(),
        resume: () => postgres.resume(),
      },
      redis,
      upstash,
      s3,
      clamd,
      oidc,
      mail,
      traces,
      prometheus,
      meter,
      meterUrl: meterServer?.url,
      describe: () => [
        `postgres      ${redact(directUrl)}${postgres ? " (embedded; migrations and admin scripts)" : " (external)"}`,
        ...(replica && postgres
          ? [
              `replica       ${redact(replica.urlFor(postgres.url))} (streaming hot standby; the API's DATABASE_READ_URL)`,
            ]
          : []),
        pgbouncer
          ? `pgbouncer     ${redact(databaseUrl)} (transaction mode, as Neon's pooled endpoint; the app's DATABASE_URL)`
          : "pgbouncer     off (the app connects to Postgres directly)",
        neonProxy ? `neon proxy    ws://${neonProxy.address}/v2` : "neon proxy    not needed (remote database)",
        redis && upstash
          ? `redis         127.0.0.1:${redis.port}, Upstash REST at ${upstash.url}`
          : "redis         off (cache disabled)",
        `s3            ${s3.endpoint} (buckets ${DOCUMENTS_BUCKET}, ${THUMBNAILS_BUCKET})`,
        clamd
          ? `clamd         ${clamd.address} (EICAR test signature only)`
          : "clamd         off (documents are not scanned)",
        `round trips   ${meterServer ? `${meterServer.url}/round-trips` : "shared meter"} (STACK_RTT_MS=${meter.rttMs}: delay per exchange with Postgres, Redis and S3)`,
        `openid        ${oidc.issuer} (third-party login: ${publicUrl}/auth/oidc/local/authorize)`,
        `mail          inbox ${mail.inboxUrl} (SMTP ${mail.smtpAddress}, AUTH ${mail.username}, no TLS)`,
        `traces        ${traces.url} (OTLP/HTTP receiver; recent traces at /${traces.file ? `, kept in ${shortPath(traces.file)}` : ""})`,
        ...(options.scrapeTarget
          ? [
              prometheus
                ? `prometheus    ${prometheus.url} (scraping the API's /metrics at ${prometheus.target} every ${prometheus.scrapeIntervalSeconds} s)`
                : "prometheus    off (not installed; /metrics still answers with METRICS_TOKEN)",
            ]
          : []),
      ],
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The path relative to the working folder when it is below it (`.local/traces.jsonl` under npm run dev). */
function shortPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith("..") || path.isAbsolute(relative) ? file : relative;
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = "***";
  return parsed.toString();
}
