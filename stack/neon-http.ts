import type http from "node:http";
import net from "node:net";
import pg, { type CustomTypesConfig, type DatabaseError, type PoolClient, type QueryConfig } from "pg";
import { serialize } from "pg-protocol";
import { readBoundedBody } from "./bounded-body.ts";
import type { RoundTripMeter } from "./distance.ts";

/** Neon's proxy defaults (`sql_over_http_max_request_size_bytes`, `…_max_response_size_bytes`): 10 MiB. */
export const NEON_HTTP_MAX_REQUEST_BYTES = 10 * 1024 * 1024;
export const NEON_HTTP_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
/**
 * Connections kept per connection string. Neon's HTTP proxy pools 20 per endpoint
 * (`sql_over_http_pool_max_conns_per_endpoint`); here 20 is also the ceiling on concurrent
 * backends per connection string, so a burst waits for a backend instead of exhausting
 * Postgres's `max_connections` (100).
 */
export const NEON_HTTP_POOL_SIZE = 20;
/** Neon closes pooled HTTP connections idle for 5 minutes (`sql_over_http_idle_timeout`). */
const IDLE_TIMEOUT_MS = 5 * 60_000;
/** Distinct credentials pooled at once; the oldest pool is ended beyond this. */
const MAX_POOLS = 16;

export interface NeonHttpOptions {
  /** Whether a loopback Postgres port may be reached (the relay's rule: only the stack's own servers). */
  isAllowed(postgresPort: number): boolean;
  /** Bytes; default `NEON_HTTP_MAX_REQUEST_BYTES`. */
  maxRequestBytes?: number;
  /** Bytes of JSON; default `NEON_HTTP_MAX_RESPONSE_BYTES`. */
  maxResponseBytes?: number;
  /** Backends per connection string; default `NEON_HTTP_POOL_SIZE`. */
  poolSize?: number;
  /**
   * The meter in use (stack/distance.ts): each request is one round trip to "postgres", half of
   * it before the request is handled and half before the answer is sent.
   */
  meter?: () => RoundTripMeter | undefined;
}

export interface NeonHttpEndpoint {
  /** Serves one `POST /sql` exchange. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void;
  /** Backends currently checked out of the pools (a gauge for tests). */
  activeBackends(): number;
  close(): Promise<void>;
}

type IsolationLevel = "ReadUncommitted" | "ReadCommitted" | "RepeatableRead" | "Serializable";
const ISOLATION_SQL: Record<IsolationLevel, string> = {
  ReadUncommitted: "READ UNCOMMITTED",
  ReadCommitted: "READ COMMITTED",
  RepeatableRead: "REPEATABLE READ",
  Serializable: "SERIALIZABLE",
};

interface Answer {
  status: number;
  /** The JSON text of the body. */
  json: string;
}

interface Statement {
  query: string;
  params: (string | null)[];
  arrayMode: boolean | undefined;
}

interface Target {
  user: string;
  password: string;
  database: string;
  port: number;
  applicationName: string | undefined;
}

/** The JSON error body Neon sends: Postgres's error fields, `null` when absent. */
interface NeonErrorBody {
  message: string;
  code: string;
  detail: string | null;
  hint: string | null;
  position: string | null;
  internalPosition: string | null;
  internalQuery: string | null;
  severity: string;
  where: string | null;
  table: string | null;
  column: string | null;
  schema: string | null;
  dataType: string | null;
  constraint: string | null;
  file: string | null;
  line: string | null;
  routine: string | null;
}

/** An answer other than 200: `status` and Neon's error body. */
class HttpFailure extends Error {
  readonly status: number;
  readonly body: NeonErrorBody;
  constructor(status: number, body: NeonErrorBody) {
    super(body.message);
    this.status = status;
    this.body = body;
  }
}

function failure(status: number, message: string): HttpFailure {
  return new HttpFailure(status, {
    message,
    code: "",
    detail: null,
    hint: null,
    position: null,
    internalPosition: null,
    internalQuery: null,
    severity: "",
    where: null,
    table: null,
    column: null,
    schema: null,
    dataType: null,
    constraint: null,
    file: null,
    line: null,
    routine: null,
  });
}

function isDatabaseError(error: unknown): error is DatabaseError {
  return error instanceof pg.DatabaseError;
}

/** Postgres refused a statement: 400 with every field of its ErrorResponse, as Neon forwards it. */
function postgresFailure(error: DatabaseError): HttpFailure {
  const text = (value: string | undefined) => value ?? null;
  return new HttpFailure(400, {
    message: error.message,
    code: error.code ?? "",
    detail: text(error.detail),
    hint: text(error.hint),
    position: text(error.position),
    internalPosition: text(error.internalPosition),
    internalQuery: text(error.internalQuery),
    severity: error.severity ?? "",
    where: text(error.where),
    table: text(error.table),
    column: text(error.column),
    schema: text(error.schema),
    dataType: text(error.dataType),
    constraint: text(error.constraint),
    file: text(error.file),
    line: text(error.line),
    routine: text(error.routine),
  });
}

/** Every value as Postgres's text output: the driver parses it by `dataTypeID`, as with Neon. */
const rawText: CustomTypesConfig = {
  getTypeParser: (() => (value: string) => value) as CustomTypesConfig["getTypeParser"],
};

/**
 * Neon's SQL-over-HTTP endpoint (`POST /sql`, what `neon()` and `transaction()` of
 * `@neondatabase/serverless` call), in front of a local Postgres through `pg`:
 *
 * - Request: `Neon-Connection-String` names the database and carries the credentials Postgres
 *   checks; the body is `{query, params, arrayMode?}` or `{queries: [...]}`, params as Postgres
 *   text or null (JSON numbers and booleans become their text, arrays a Postgres array literal,
 *   objects their JSON). `Neon-Array-Mode: true` makes rows arrays; `Neon-Raw-Text-Output` is
 *   required to be `true` (the driver always sends it; Neon's JSON-typed output is not provided).
 * - A single query runs on its own (autocommit) with the extended protocol, so one statement per
 *   query as on Neon. A batch runs in one transaction, `START TRANSACTION [ISOLATION LEVEL …]
 *   [, READ ONLY] [, DEFERRABLE]` from `Neon-Batch-Isolation-Level` / `-Read-Only` /
 *   `-Deferrable`, echoed in the response headers; a failing statement rolls back all of it.
 * - Response 200: `{command, rowCount, rowAsArray, fields: [{name, dataTypeID, tableID, columnID,
 *   dataTypeSize, dataTypeModifier, format: "text"}], rows}` (values as text), or
 *   `{results: [...]}` for a batch.
 * - Errors, as neondatabase/neon `proxy/src/serverless/sql_over_http.rs` answers them: 400 with
 *   `{message, code, detail, hint, position, …}` when Postgres refuses a statement or the
 *   request is malformed; wrong credentials 400 `password authentication failed for user '…'`
 *   with `code: ""`; a body over 10 MiB 413; a response over 10 MiB 507; Postgres unreachable 500.
 * - Only loopback Postgres ports that `isAllowed` names are reachable (400 otherwise).
 */
export function createNeonHttpEndpoint(options: NeonHttpOptions): NeonHttpEndpoint {
  const maxRequestBytes = options.maxRequestBytes ?? NEON_HTTP_MAX_REQUEST_BYTES;
  const maxResponseBytes = options.maxResponseBytes ?? NEON_HTTP_MAX_RESPONSE_BYTES;
  const poolSize = options.poolSize ?? NEON_HTTP_POOL_SIZE;
  const pools = new Map<string, pg.Pool>();
  let active = 0;

  function poolFor(target: Target): { key: string; pool: pg.Pool } {
    const key = JSON.stringify([target.user, target.password, target.database, target.port]);
    let pool = pools.get(key);
    if (!pool) {
      pool = new pg.Pool({
        host: "127.0.0.1",
        port: target.port,
        user: target.user,
        password: target.password,
        database: target.database,
        application_name: target.applicationName ?? "neon-http",
        max: poolSize,
        idleTimeoutMillis: IDLE_TIMEOUT_MS,
      });
      // An idle backend that dies (Postgres restarted) is dropped by the pool; one that dies in use
      // fails its statement, and is then discarded. Unheard, either error would end the process.
      pool.on("error", () => {});
      pool.on("connect", (client) => client.on("error", () => {}));
      pools.set(key, pool);
      if (pools.size > MAX_POOLS) {
        const oldest = pools.keys().next();
        if (!oldest.done) {
          void pools.get(oldest.value)?.end();
          pools.delete(oldest.value);
        }
      }
    }
    return { key, pool };
  }

  async function connect(target: Target): Promise<PoolClient> {
    const { key, pool } = poolFor(target);
    try {
      return await pool.connect();
    } catch (error) {
      if (isDatabaseError(error)) {
        // A pool whose credentials failed holds nothing worth keeping.
        if (pools.get(key) === pool) pools.delete(key);
        void pool.end();
        // Neon checks the password itself and answers without Postgres's fields
        // (proxy/src/auth: AuthError "password authentication failed for user '…'").
        // PgBouncer 1.18 (the stack's pooled endpoint) reports a failed SCRAM exchange as 08P01
        // "SASL authentication failed"; Postgres as class 28.
        const refused =
          error.code?.startsWith("28") || (error.code === "08P01" && /authentication failed/.test(error.message));
        if (refused) {
          throw failure(400, `password authentication failed for user '${target.user}'`);
        }
        throw postgresFailure(error);
      }
      throw failure(500, `Couldn't connect to compute node: ${(error as Error).message}`);
    }
  }

  /** The answer to one request; what it sets on `res` are headers only. */
  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<Answer> {
    if (req.method !== "POST") {
      res.setHeader("allow", "POST");
      throw failure(405, "method not allowed: use POST");
    }
    const target = parseConnectionString(req.headers["neon-connection-string"], options.isAllowed);
    if (req.headers["neon-raw-text-output"] !== "true") {
      throw failure(400, "only Neon-Raw-Text-Output: true is supported by the local endpoint");
    }
    const arrayModeDefault = req.headers["neon-array-mode"] === "true";
    const isolation = parseIsolationLevel(req.headers["neon-batch-isolation-level"]);
    const readOnly = req.headers["neon-batch-read-only"] === "true";
    const deferrable = req.headers["neon-batch-deferrable"] === "true";

    // Neon reads the body and connects at the same time.
    const body = readBody(req, maxRequestBytes).then(parsePayload);
    const client = connect(target);
    const [payload, backend] = await Promise.allSettled([body, client]);
    if (payload.status === "rejected") {
      if (backend.status === "fulfilled") backend.value.release();
      throw payload.reason;
    }
    if (backend.status === "rejected") throw backend.reason;

    const conn = backend.value;
    active += 1;
    const budget = { left: maxResponseBytes, max: maxResponseBytes };
    let reusable = true;
    // A client that goes away (an aborted fetch) has its statement cancelled, as on Neon; the
    // batch then rolls back.
    const cancel = () => cancelBackend(target.port, conn);
    res.once("close", cancel);
    try {
      if (!Array.isArray(payload.value)) {
        const statement = payload.value;
        const result = await run(conn, statement, statement.arrayMode ?? arrayModeDefault, budget);
        // A statement that left a transaction open (BEGIN) must not hand it to the next request:
        // Neon discards such a connection too.
        if (transactionStatus(conn) !== "I") reusable = false;
        return { status: 200, json: result };
      }
      const statements = payload.value;
      const modes = [
        isolation ? `ISOLATION LEVEL ${ISOLATION_SQL[isolation]}` : "",
        readOnly ? "READ ONLY" : "",
        deferrable ? "DEFERRABLE" : "",
      ].filter(Boolean);
      await simple(conn, `START TRANSACTION${modes.length ? ` ${modes.join(", ")}` : ""}`);
      const results: string[] = [];
      try {
        for (const statement of statements) {
          if (res.destroyed) throw failure(400, "Query cancelled, connection was terminated");
          results.push(await run(conn, statement, statement.arrayMode ?? arrayModeDefault, budget));
        }
        await simple(conn, "COMMIT");
      } catch (error) {
        await simple(conn, "ROLLBACK").catch(() => {
          reusable = false;
        });
        throw error;
      }
      if (isolation) res.setHeader("neon-batch-isolation-level", isolation);
      if (readOnly) res.setHeader("neon-batch-read-only", "true");
      if (deferrable) res.setHeader("neon-batch-deferrable", "true");
      return { status: 200, json: `{"results":[${results.join(",")}]}` };
    } catch (error) {
      if (!isDatabaseError(error) && !(error instanceof HttpFailure)) reusable = false;
      throw error;
    } finally {
      res.off("close", cancel);
      active -= 1;
      conn.release(!reusable);
    }
  }

  return {
    handle(req, res) {
      const meter = options.meter?.();
      const end = meter?.begin("postgres");
      res.once("close", () => end?.());
      const halfTrip = () => meter?.halfTrip() ?? Promise.resolve();
      halfTrip()
        .then(() => serve(req, res))
        .catch((error: unknown): Answer => {
          const answer =
            error instanceof HttpFailure
              ? error
              : isDatabaseError(error)
                ? postgresFailure(error)
                : failure(500, `local Neon endpoint: ${(error as Error).message}`);
          // A body read only in part (over the limit by more than DRAIN_BYTES): the connection
          // closes after the answer.
          if (!req.complete) res.setHeader("connection", "close");
          return { status: answer.status, json: JSON.stringify(answer.body) };
        })
        .then(async (answer) => {
          await halfTrip();
          if (!res.destroyed) send(res, answer.status, answer.json);
        })
        .catch(() => res.destroy());
    },
    activeBackends: () => active,
    async close() {
      const all = [...pools.values()];
      pools.clear();
      await Promise.all(all.map((pool) => pool.end().catch(() => {})));
    },
  };
}

function send(res: http.ServerResponse, status: number, json: string): void {
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(json),
    "access-control-allow-origin": "*",
  });
  res.end(json);
}

function parseConnectionString(header: string | string[] | undefined, isAllowed: (port: number) => boolean): Target {
  if (typeof header !== "string" || header === "") throw failure(400, "missing connection string");
  let url: URL;
  try {
    url = new URL(header);
  } catch {
    throw failure(400, "invalid connection string: not a URL");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw failure(400, "invalid connection string: the scheme must be postgres:// or postgresql://");
  }
  const user = decodeURIComponent(url.username);
  const database = decodeURIComponent(url.pathname.slice(1));
  if (!user || !database) throw failure(400, "invalid connection string: missing user or database");
  // Neon authenticates HTTP requests by the password; there is no trust or peer login.
  if (!url.password) throw failure(400, "missing authentication credentials: password");
  const port = Number(url.port || 5432);
  // Only the stack's own Postgres servers, on loopback: the endpoint is no open relay.
  if (!["127.0.0.1", "localhost"].includes(url.hostname) || !isAllowed(port)) {
    throw failure(400, `the endpoint ${url.hostname}:${port} is not reachable through this proxy`);
  }
  return {
    user,
    password: decodeURIComponent(url.password),
    database,
    port,
    applicationName: url.searchParams.get("application_name") ?? undefined,
  };
}

function parseIsolationLevel(header: string | string[] | undefined): IsolationLevel | undefined {
  if (header === undefined) return undefined;
  if (typeof header === "string" && Object.hasOwn(ISOLATION_SQL, header)) return header as IsolationLevel;
  throw failure(400, "invalid isolation level");
}

/** Keeps at most `limit` bytes; more is a 413 (Neon: "request is too large"). */
async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const body = await readBoundedBody(req, limit);
  if (!body) throw failure(413, `request is too large (max is ${limit} bytes)`);
  return body;
}

function parsePayload(raw: Buffer): Statement | Statement[] {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch (error) {
    throw failure(400, `could not parse the request body as JSON: ${(error as Error).message}`);
  }
  if (isRecord(json) && Array.isArray(json.queries)) return json.queries.map(parseStatement);
  return parseStatement(json);
}

function parseStatement(value: unknown): Statement {
  if (!isRecord(value) || typeof value.query !== "string") {
    throw failure(400, "the request body must be {query, params} or {queries: [{query, params}, ...]}");
  }
  const params = value.params ?? [];
  if (!Array.isArray(params)) throw failure(400, "params must be an array");
  if (value.arrayMode !== undefined && typeof value.arrayMode !== "boolean") {
    throw failure(400, "arrayMode must be a boolean");
  }
  return { query: value.query, params: params.map(paramText), arrayMode: value.arrayMode };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A JSON parameter as Postgres text, the way Neon converts it (proxy/src/serverless/json.rs). */
function paramText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return arrayLiteral(value);
  return JSON.stringify(value);
}

function arrayLiteral(values: unknown[]): string {
  const items = values.map((item) => {
    if (item === null || item === undefined) return "NULL";
    if (Array.isArray(item)) return arrayLiteral(item);
    const text = typeof item === "string" ? item : isRecord(item) ? JSON.stringify(item) : String(item);
    return typeof item === "string" || isRecord(item) ? JSON.stringify(text) : text;
  });
  return `{${items.join(",")}}`;
}

/**
 * Asks Postgres to cancel what `client` is running: a CancelRequest with the backend's key, on a
 * connection of its own (PostgreSQL docs, "Canceling Requests in Progress"). Nothing happens when
 * the backend is idle; failures are ignored, as a cancel is only a request.
 */
function cancelBackend(port: number, client: PoolClient): void {
  // pg keeps the BackendKeyData it received on the client; its types do not declare it.
  const { processID, secretKey } = client as unknown as { processID: unknown; secretKey: unknown };
  if (typeof processID !== "number" || typeof secretKey !== "number") return;
  if (transactionStatus(client) === "I" && !busy.has(client)) return;
  // The server closes the connection once it has passed the cancel on. Closing it first makes
  // PgBouncer 1.18 (Debian's, the stack's pooler) exit: "disconnect_client(): bad client state: 0"
  // (pgbouncer/pgbouncer#801, fixed by #846 in 1.20).
  const socket = net.connect(port, "127.0.0.1", () => socket.write(serialize.cancel(processID, secretKey)));
  socket.setTimeout(10_000, () => socket.destroy());
  socket.on("error", () => {});
}

/** Clients with a statement in flight. */
const busy = new WeakSet<PoolClient>();

/** `ReadyForQuery`'s transaction status after the last exchange: I idle, T in a transaction, E failed. */
const statuses = new WeakMap<PoolClient, string>();

function transactionStatus(client: PoolClient): string {
  return statuses.get(client) ?? "I";
}

function watchStatus(client: PoolClient): void {
  if (statuses.has(client)) return;
  statuses.set(client, "I");
  client.connection.on("readyForQuery", (message: { status?: unknown }) => {
    if (typeof message.status === "string") statuses.set(client, message.status);
  });
}

async function simple(client: PoolClient, text: string): Promise<void> {
  watchStatus(client);
  await client.query(text);
}

/**
 * Runs one statement with the extended protocol and text results, and resolves to the JSON of its
 * result: `{command, rowCount, rowAsArray, fields, rows}`. Each row is serialised as it arrives
 * (pg accumulates nothing when a row listener is attached). `budget.left` is the response's
 * remaining bytes: past it the rows are dropped and the answer is 507, as Neon's
 * "response is too large".
 */
function run(
  client: PoolClient,
  statement: Statement,
  arrayMode: boolean,
  budget: { left: number; readonly max: number },
): Promise<string> {
  watchStatus(client);
  const config: QueryConfig & { rowMode: "array"; queryMode: "extended" } = {
    text: statement.query,
    values: statement.params,
    types: rawText,
    rowMode: "array",
    queryMode: "extended",
  };
  return new Promise((resolve, reject) => {
    const rows: string[] = [];
    let names: string[] | undefined;
    let tooLarge = false;
    const query = new pg.Query(config);
    query.on("row", (row: unknown[], result) => {
      if (tooLarge) return;
      names ??= (result?.fields ?? []).map((field) => field.name);
      const fieldNames = names;
      const value = arrayMode ? row : Object.fromEntries(row.map((cell, i) => [fieldNames[i] ?? "?column?", cell]));
      const json = JSON.stringify(value);
      // The row plus its separator.
      budget.left -= Buffer.byteLength(json) + 1;
      if (budget.left < 0) {
        tooLarge = true;
        rows.length = 0;
        return;
      }
      rows.push(json);
    });
    query.on("error", reject);
    query.on("end", (result) => {
      if (tooLarge) {
        reject(failure(507, `response is too large (max is ${budget.max} bytes)`));
        return;
      }
      const head = JSON.stringify({
        command: result.command,
        rowCount: result.rowCount,
        rowAsArray: arrayMode,
        fields: result.fields.map((field) => ({
          name: field.name,
          dataTypeID: field.dataTypeID,
          tableID: field.tableID,
          columnID: field.columnID,
          dataTypeSize: field.dataTypeSize,
          dataTypeModifier: field.dataTypeModifier,
          format: "text",
        })),
      });
      resolve(`${head.slice(0, -1)},"rows":[${rows.join(",")}]}`);
    });
    busy.add(client);
    const idle = () => busy.delete(client);
    query.once("end", idle);
    query.once("error", idle);
    client.query(query);
  });
}
