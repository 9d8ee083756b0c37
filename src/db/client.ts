import {
  Client,
  type ClientConfig,
  type HTTPTransactionOptions,
  type NeonQueryFunction,
  neon,
  neonConfig,
  Pool,
} from "@neondatabase/serverless";
import type { BatchItem, BatchResponse } from "drizzle-orm/batch";
import { drizzle as drizzleHttp, type NeonHttpDatabase } from "drizzle-orm/neon-http";
import { drizzle, type NeonDatabase } from "drizzle-orm/neon-serverless";
import type { DatabaseConfig, ReadReplicaConfig } from "../pkg/config/config.ts";
import { DeadlineExceededError, withDeadline } from "../pkg/errors/deadline.ts";
import { watchCall } from "../pkg/metrics/recorder.ts";
import { type ReplicaFallback, replicaReads } from "./replica.ts";
import * as schema from "./schema/index.ts";

/** The WebSocket mode: a `Pool` of Postgres sessions, for interactive transactions (`asActor`). */
export type Database = NeonDatabase<typeof schema>;

/**
 * What the statements of an HTTP transaction are built with: drizzle's query builders over the
 * HTTP mode, without `batch`. A statement built here runs only inside `HttpDatabase.transaction`
 * (the callback is synchronous, so it cannot `await` one); awaited on its own it throws
 * `HttpStatementOutsideTransactionError` instead of running without the actor's settings.
 */
export type HttpQueryBuilder = Omit<NeonHttpDatabase<typeof schema>, "batch" | "$client" | "$withAuth">;

/** One or more statements of an HTTP transaction, as drizzle's `batch` takes them. */
export type HttpStatements = readonly [BatchItem<"pg">, ...BatchItem<"pg">[]];

/** How the HTTP transaction runs (Neon's `transaction()` options that this code uses). */
export interface HttpTransactionOptions {
  /** `BEGIN READ ONLY`: the batch only reads. Default false. */
  readonly readOnly?: boolean;
}

/**
 * The HTTP mode of `@neondatabase/serverless`: each transaction is one `POST /sql` to Neon's
 * HTTP endpoint, which runs the statements in one Postgres transaction on a pooled backend
 * (Neon, "Choosing your driver": HTTP for one-shot queries and non-interactive transactions).
 * Only `batchAsActor` (src/db/actor.ts) should call it: it puts the row-level-security settings
 * first.
 */
export interface HttpDatabase {
  /**
   * Runs the statements `build` returns as one transaction in one HTTP request and resolves to
   * their results, in order. A failed statement rolls back the whole batch. Throws
   * `DeadlineExceededError("postgres")` past `timeoutMs` (the request is aborted: whether the
   * server committed a write is then unknown, see `isUncertainCommit`), `NeonDbError` with the
   * SQLSTATE as `code` when Postgres refused a statement, and `NeonDbError` without `code` when
   * the endpoint could not be reached or answered other than with a result or a Postgres error.
   */
  transaction<T extends HttpStatements>(
    build: (db: HttpQueryBuilder) => T,
    options?: HttpTransactionOptions,
  ): Promise<BatchResponse<T>>;
}

/**
 * One request's (or one queue batch's) way to Postgres, in both modes of
 * `@neondatabase/serverless`; nothing is opened until a mode is first used. Errors are classified
 * by `src/db/errors.ts` (SQLSTATE, deadline, unreachable), never by message.
 */
export interface DatabaseHandle {
  /**
   * The WebSocket mode: drizzle over a `Pool` of at most 4 Postgres sessions, opened on first use
   * (the WebSocket upgrade, startup and authentication before the first statement: Neon,
   * "Choosing your driver"). Connecting and each statement are bounded by `timeoutMs`; past it the
   * query rejects with `DeadlineExceededError("postgres")` wrapped in drizzle's `DrizzleQueryError`.
   */
  readonly db: Database;
  /** The HTTP mode: no connection to open or close; one `POST /sql` per transaction. */
  readonly http: HttpDatabase;
  /**
   * The HTTP mode for reads that may be a little stale: with a read replica configured, read-only
   * transactions run there and fall back to the primary (src/db/replica.ts, `replicaReads`);
   * anything else, and everything without a replica, is `http`.
   */
  readonly staleReads: HttpDatabase;
  /**
   * Ends the pool, if one was opened; call it before the request (or queue batch) finishes, since a
   * Workers request may not leave a WebSocket to the next one. Waits at most `timeoutMs`; past it
   * the rest is dropped with the request, and the promise still resolves.
   */
  close(): Promise<void>;
}

let configuredProxy: string | undefined;

/**
 * The local stand-in of Neon's HTTP endpoint for each database (`host:port` of its connection
 * string): the driver's `fetchEndpoint` is global, and tests reach two stacks from one isolate.
 */
const httpEndpoints = new Map<string, string>();

/**
 * Locally, `@neondatabase/serverless` talks to the stack's WebSocket proxy (stack/neon-proxy.ts)
 * instead of Neon's: plain ws://, and no pipelined connect because SCRAM needs a round trip; and
 * its HTTP mode posts to the same proxy's `/sql` (stack/neon-http.ts). In production none of
 * this is set and the driver's defaults reach Neon (`https://api.<host>/sql`).
 */
export function configureDriver(config: DatabaseConfig): void {
  const address = config.localProxy;
  if (!address) return;
  const database = new URL(config.url);
  httpEndpoints.set(`${database.hostname}:${database.port}`, `http://${address}/sql`);
  neonConfig.fetchEndpoint = (host, port) => httpEndpoints.get(`${host}:${port}`) ?? `http://${address}/sql`;
  if (configuredProxy === address) return;
  neonConfig.wsProxy = (host, port) => `${address}/v2?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineConnect = false;
  neonConfig.pipelineTLS = false;
  configuredProxy = address;
}

type QueryFunction = (...args: unknown[]) => unknown;

/** `commit` (or its synonym `end`) as drizzle and the driver send it: as text or a query config. */
function isCommit(query: unknown): boolean {
  const text =
    typeof query === "string" ? query : query && typeof query === "object" && "text" in query ? query.text : undefined;
  return typeof text === "string" && /^\s*(commit|end)\b/i.test(text);
}
type QueryCallback = (error: Error | null, result?: unknown) => void;

/**
 * The Neon client with a client-side deadline on connecting and on every statement. A frozen
 * server cannot enforce its own `statement_timeout`, and a socket that stays open never errors:
 * without this a query waits as long as the server is stuck. Past the deadline the statement
 * rejects with `DeadlineExceededError("postgres")`, the WebSocket is destroyed and the client
 * dropped from its pool (the connection's state is unknown, so it is never reused; the pool opens
 * another), and every later statement on this client rejects with the same error at once — so
 * the rollback drizzle attempts reports the deadline, not a closed socket. Callers see the error
 * wrapped in `DrizzleQueryError` (see `isDatabaseDeadline`).
 */
function clientWithDeadline(timeoutMs: number): typeof Client {
  return class DeadlineClient extends Client {
    #expired: DeadlineExceededError | undefined;

    constructor(config?: string | ClientConfig) {
      super(config);
      // `query` has seven overloads; the wrapper handles the two forms that reach it (a promise
      // from drizzle on a checked-out client, a trailing callback from the pool's own `query`).
      const query = this.query.bind(this) as unknown as QueryFunction;
      const bounded: QueryFunction = (...args) => this.#bounded(query, args);
      this.query = bounded as unknown as Client["query"];
    }

    override connect(): Promise<void>;
    override connect(callback: (err?: Error) => void): void;
    override connect(callback?: (err?: Error) => void): Promise<void> | undefined {
      const connecting = new Promise<void>((resolve, reject) => {
        super.connect((error?: Error) => (error ? reject(error) : resolve()));
      });
      const bounded = this.#within(connecting, "connect");
      if (!callback) return bounded;
      bounded.then(
        () => callback(),
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
      return undefined;
    }

    #within<T>(work: Promise<T>, what: string): Promise<T> {
      const started = performance.now();
      const bounded = withDeadline(work, new DeadlineExceededError("postgres", timeoutMs, what), (error) => {
        this.#expired = error;
        // The socket's end is reported as an error on the client; the deadline already was.
        this.on("error", () => {});
        const stream: unknown = this.connection?.stream;
        if (stream && typeof stream === "object" && "destroy" in stream && typeof stream.destroy === "function") {
          stream.destroy();
        }
        this.#giveBack(error);
      });
      // Each connect, statement and commit of the WebSocket mode, timed until it settles or expires.
      return watchCall("postgres", what, started, bounded);
    }

    /**
     * Returns a checked-out client to the pool as broken, which drops it and frees its place.
     * Drizzle never releases a client whose `begin` failed, and releases others only after its
     * rollback; so the pool's `release` is called here, once, and the later call made harmless.
     */
    #giveBack(error: Error): void {
      const release: unknown = Reflect.get(this, "release");
      if (typeof release !== "function") return;
      Reflect.set(this, "release", () => {});
      release.call(this, error);
    }

    #bounded(query: QueryFunction, args: unknown[]): unknown {
      // A commit abandoned at its deadline may still take effect: callers tell it apart.
      const operation = isCommit(args[0]) ? "commit" : "statement";
      const last = args.at(-1);
      if (typeof last === "function") {
        const callback = last as QueryCallback;
        const work = this.#expired
          ? Promise.reject(this.#expired)
          : new Promise<unknown>((resolve, reject) => {
              query(...args.slice(0, -1), (error: Error | null, result: unknown) =>
                error ? reject(error) : resolve(result),
              );
            });
        this.#within(work, operation).then(
          (result) => callback(null, result),
          (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
        );
        return undefined;
      }
      if (this.#expired) return Promise.reject(this.#expired);
      const result = query(...args);
      return result instanceof Promise ? this.#within(result, operation) : result;
    }
  };
}

/**
 * A statement of the HTTP mode was run on its own rather than inside `HttpDatabase.transaction`:
 * it would have run without the actor's row-level-security settings. A bug in our code.
 */
export class HttpStatementOutsideTransactionError extends Error {
  constructor() {
    super("an HTTP-mode statement runs only inside HttpDatabase.transaction (use batchAsActor)");
    this.name = "HttpStatementOutsideTransactionError";
  }
}

/**
 * The HTTP mode over `neon(url)`. Drizzle builds a batch's statements and calls the query
 * function's `transaction` synchronously inside `batch` (drizzle-orm/neon-http/session.js), so the
 * per-transaction options (read-only, the abort signal of the deadline) are handed over in
 * `pending` for exactly that synchronous stretch; a statement prepared at any other time (awaited
 * on its own) finds no `pending` and throws `HttpStatementOutsideTransactionError`.
 */
function openHttp(config: DatabaseConfig): HttpDatabase {
  const sql = neon(config.url);
  let pending: HTTPTransactionOptions<boolean, boolean> | undefined;
  const inTransaction = () => {
    if (!pending) throw new HttpStatementOutsideTransactionError();
    return pending;
  };
  const guarded = Object.assign(
    (..._args: unknown[]) => {
      throw new HttpStatementOutsideTransactionError();
    },
    {
      query: ((...args: Parameters<typeof sql.query>) => {
        inTransaction();
        return sql.query(...args);
      }) as typeof sql.query,
      transaction: ((
        queries: Parameters<typeof sql.transaction>[0],
        options?: HTTPTransactionOptions<boolean, boolean>,
      ) => sql.transaction(queries, { ...options, ...inTransaction() })) as typeof sql.transaction,
    },
    // The tagged-template form throws above; drizzle uses only `query` and `transaction`.
  ) as unknown as NeonQueryFunction<false, false>;
  const db = drizzleHttp({ client: guarded, schema });
  return {
    transaction(build, options = {}) {
      const abort = new AbortController();
      let batch: Promise<BatchResponse<ReturnType<typeof build>>>;
      pending = { readOnly: options.readOnly ?? false, fetchOptions: { signal: abort.signal } };
      try {
        batch = db.batch(build(db));
      } finally {
        pending = undefined;
      }
      const operation = options.readOnly ? "statement" : "commit";
      // One HTTP request: the whole batch, as one transaction.
      return watchCall(
        "postgres",
        "http_transaction",
        performance.now(),
        withDeadline(batch, new DeadlineExceededError("postgres", config.timeoutMs, operation), () => abort.abort()),
      );
    },
  };
}

/**
 * A per-request database: Workers may not share a WebSocket between requests, so the pool is
 * created inside the request and ended before it completes. Connecting and each statement have
 * the deadline `config.timeoutMs` (see `clientWithDeadline`); so does ending the pool, after which
 * whatever is left is dropped with the request.
 */
export function openDatabase(
  config: DatabaseConfig,
  options: { replica?: ReadReplicaConfig; onReplicaFallback?: (fallback: ReplicaFallback) => void } = {},
): DatabaseHandle {
  configureDriver(config);
  const { replica } = options;
  if (replica) configureDriver(replica);
  let pool: Pool | undefined;
  let db: Database | undefined;
  let http: HttpDatabase | undefined;
  let staleReads: HttpDatabase | undefined;
  const primaryHttp = () => {
    http ??= openHttp(config);
    return http;
  };
  return {
    get http() {
      return primaryHttp();
    },
    get staleReads() {
      staleReads ??= replica
        ? replicaReads({
            primary: primaryHttp,
            replica: openHttp(replica),
            maxLagSeconds: replica.maxLagSeconds,
            onFallback: options.onReplicaFallback ?? (() => {}),
          })
        : primaryHttp();
      return staleReads;
    },
    get db() {
      if (!db) {
        pool = new Pool({ connectionString: config.url, max: 4 });
        // The Neon pool sets its client class after construction; ours adds the deadlines.
        pool.Client = clientWithDeadline(config.timeoutMs);
        // An idle client that loses its socket emits on the pool; the next query reports it.
        pool.on("error", () => {});
        db = drizzle({ client: pool, schema });
      }
      return db;
    },
    async close() {
      const open = pool;
      pool = undefined;
      db = undefined;
      if (!open) return;
      await withDeadline(open.end(), new DeadlineExceededError("postgres", config.timeoutMs, "close")).catch(
        (error: unknown) => {
          if (!(error instanceof DeadlineExceededError)) throw error;
        },
      );
    },
  };
}
