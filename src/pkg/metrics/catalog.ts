/**
 * Every metric the platform exports, by name, type, help text, label names and (histograms)
 * buckets. Counts recorded against a metric must name exactly its labels. Names follow the
 * OpenTelemetry HTTP semantic conventions as Prometheus spells them (OpenTelemetry specification,
 * "Prometheus and OpenMetrics Compatibility": dots become underscores, the unit a suffix) for the
 * HTTP server, and `techcorp_` for the platform's own; README "Observability" lists them.
 */
export type MetricType = "counter" | "gauge" | "histogram";

export interface MetricDefinition<L extends string = string> {
  /** The family name; a histogram's samples add `_bucket`, `_sum` and `_count`, a counter's is itself (`…_total`). */
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labels: readonly L[];
  /** Histograms only: upper bounds in the metric's unit, ascending; `+Inf` is implied. */
  readonly buckets?: readonly number[];
}

function metric<const L extends string>(definition: MetricDefinition<L>): MetricDefinition<L> {
  return definition;
}

/** OpenTelemetry's advised boundaries for `http.server.request.duration`, in seconds. */
const HTTP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
/** Body sizes in bytes: 100 B to 100 MiB (the upload limit), by powers of ten and the part size. */
const BODY_SIZE_BUCKETS = [100, 1_000, 10_000, 100_000, 1_000_000, 5_242_880, 10_000_000, 104_857_600];
/** A dependency call, in seconds: a Durable Object or cache hit at the low end, a scan at the high one. */
const CALL_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** A queue message's age when consumed, in seconds: from a batch timeout to a day of retries. */
const QUEUE_AGE_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 21_600, 86_400];

const HTTP_LABELS = ["http_request_method", "http_route", "http_response_status_code"] as const;

export const HTTP_SERVER_REQUEST_DURATION = metric({
  name: "http_server_request_duration_seconds",
  type: "histogram",
  help: "Duration of HTTP server requests until the response's headers, in seconds.",
  labels: HTTP_LABELS,
  buckets: HTTP_DURATION_BUCKETS,
});

export const HTTP_SERVER_REQUEST_BODY_SIZE = metric({
  name: "http_server_request_body_size_bytes",
  type: "histogram",
  help: "Size of HTTP server request bodies whose Content-Length was given, in bytes.",
  labels: HTTP_LABELS,
  buckets: BODY_SIZE_BUCKETS,
});

export const HTTP_SERVER_RESPONSE_BODY_SIZE = metric({
  name: "http_server_response_body_size_bytes",
  type: "histogram",
  help: "Size of HTTP server response bodies (their Content-Length, or counted as they stream out), in bytes.",
  labels: HTTP_LABELS,
  buckets: BODY_SIZE_BUCKETS,
});

export const RATE_LIMIT_REFUSALS = metric({
  name: "techcorp_rate_limit_refusals_total",
  type: "counter",
  help: "Requests refused with 429, by rate-limit policy.",
  labels: ["policy"],
});

export const DEPENDENCY_CALL_DURATION = metric({
  name: "techcorp_dependency_call_duration_seconds",
  type: "histogram",
  help: "Calls to Durable Objects, Postgres, Redis, S3, clamd, queues, SMTP and webhook receivers, in seconds, by outcome (ok, error).",
  labels: ["worker", "dependency", "operation", "outcome"],
  buckets: CALL_DURATION_BUCKETS,
});

export const DATABASE_REPLICA_READS = metric({
  name: "techcorp_database_replica_reads_total",
  type: "counter",
  help: "Reads routed to the read replica, by how they were served: replica, or by the primary because the replica was unavailable or lagging.",
  labels: ["outcome"],
});

export const QUEUE_MESSAGES = metric({
  name: "techcorp_queue_messages_total",
  type: "counter",
  help: "Queue messages the processor consumed, by outcome (acked, retried, dropped as malformed).",
  labels: ["queue", "outcome"],
});

export const QUEUE_MESSAGES_DEAD_LETTERED = metric({
  name: "techcorp_queue_messages_dead_lettered_total",
  type: "counter",
  help: "Messages that reached a dead-letter queue, counted by its consumer; queue names the source queue.",
  labels: ["queue"],
});

export const QUEUE_MESSAGE_AGE = metric({
  name: "techcorp_queue_message_age_seconds",
  type: "histogram",
  help: "Age of a queue message when the processor took it, in seconds.",
  labels: ["queue"],
  buckets: QUEUE_AGE_BUCKETS,
});

export const HEARTBEAT = metric({
  name: "techcorp_heartbeat_timestamp_seconds",
  type: "gauge",
  help: "Unix time of the worker's last cron run, in seconds.",
  labels: ["worker"],
});

export const SEARCHES = metric({
  name: "techcorp_searches_total",
  type: "counter",
  help: "Searches served (GET /search).",
  labels: [],
});

export const METRICS_SERIES_DROPPED = metric({
  name: "techcorp_metrics_series_dropped_total",
  type: "counter",
  help: "Samples of new series an aggregator shard refused because it held its limit of series.",
  labels: [],
});

/** What the scrape reads itself (Postgres, the readiness checks), not counted by isolates. */
export const DEPENDENCY_UP = metric({
  name: "techcorp_dependency_up",
  type: "gauge",
  help: "1 when the dependency's readiness check passed at the scrape, else 0.",
  labels: ["dependency"],
});

export const STORAGE_USED = metric({
  name: "techcorp_storage_used_bytes",
  type: "gauge",
  help: "Bytes stored: postgres (the database's size), documents (every stored version).",
  labels: ["store"],
});

export const STORAGE_LIMIT = metric({
  name: "techcorp_storage_limit_bytes",
  type: "gauge",
  help: "The plan's limit or the budget set for each store, in bytes.",
  labels: ["store"],
});

export const DOCUMENTS = metric({
  name: "techcorp_documents",
  type: "gauge",
  help: "Documents not deleted, by processing status.",
  labels: ["status"],
});

export const USERS = metric({
  name: "techcorp_users",
  type: "gauge",
  help: "Accounts not deleted.",
  labels: [],
});

export const PROJECTS = metric({
  name: "techcorp_projects",
  type: "gauge",
  help: "Projects not deleted, by state (active, archived).",
  labels: ["state"],
});

/** Every metric, in the order the exposition lists them. */
export const CATALOG: readonly MetricDefinition[] = [
  HTTP_SERVER_REQUEST_DURATION,
  HTTP_SERVER_REQUEST_BODY_SIZE,
  HTTP_SERVER_RESPONSE_BODY_SIZE,
  RATE_LIMIT_REFUSALS,
  DEPENDENCY_CALL_DURATION,
  DATABASE_REPLICA_READS,
  QUEUE_MESSAGES,
  QUEUE_MESSAGES_DEAD_LETTERED,
  QUEUE_MESSAGE_AGE,
  HEARTBEAT,
  SEARCHES,
  METRICS_SERIES_DROPPED,
  DEPENDENCY_UP,
  STORAGE_USED,
  STORAGE_LIMIT,
  DOCUMENTS,
  USERS,
  PROJECTS,
];
