import { inSpan, recordFailure, SpanKind, startSpan } from "../tracing/tracing.ts";
import { DEPENDENCY_CALL_DURATION, type MetricDefinition } from "./catalog.ts";

/**
 * One sample of one series as it travels from an isolate to an aggregator shard: `family` is the
 * metric's name, `sample` the sample's (`…_bucket`, `…_sum`, `…_count` for histograms), `labels` its
 * label pairs in the catalog's order (`le` last) as a JSON array of `[name, value]`, so the pair
 * `(sample, labels)` names the series.
 */
export interface Sample {
  family: string;
  sample: string;
  labels: string;
  value: number;
}

/**
 * What an isolate sends to an aggregator shard in one flush: `add`, deltas of counters and of
 * histograms' buckets, sums and counts since the last flush; `set`, the last value of gauges.
 */
export interface MetricsBatch {
  add: Sample[];
  set: Sample[];
}

/** Label values of a metric, by the names its definition lists. */
export type Labels<L extends string> = { readonly [K in L]: string | number };

/** Where code records what it measures: `isolateMetrics` in the Workers, or a test's own. */
export interface MetricsRecorder {
  /** Adds `delta` (default 1) to a counter. */
  add<L extends string>(metric: MetricDefinition<L>, labels: Labels<L>, delta?: number): void;
  /** Sets a gauge. */
  set<L extends string>(metric: MetricDefinition<L>, labels: Labels<L>, value: number): void;
  /** Records one observation of a histogram (in the metric's unit: seconds, bytes). */
  observe<L extends string>(metric: MetricDefinition<L>, labels: Labels<L>, value: number): void;
}

/** A bucket bound as Prometheus writes it: `+Inf`, or the number in its shortest form. */
export function bucketBound(bound: number): string {
  return bound === Number.POSITIVE_INFINITY ? "+Inf" : String(bound);
}

function labelPairs<L extends string>(metric: MetricDefinition<L>, labels: Labels<L>): [string, string][] {
  return metric.labels.map((name) => [name, String(labels[name])]);
}

/** The label values in the definition's order: with the metric's name, what tells a series apart. */
function seriesKey<L extends string>(metric: MetricDefinition<L>, labels: Labels<L>): string {
  let key = metric.name;
  for (const name of metric.labels) key += `\u0000${String(labels[name])}`;
  return key;
}

const key = (sample: string, labels: string) => `${sample}\u0000${labels}`;

/** One label set of a histogram since the last drain: observations per bucket (not cumulative), sum, count. */
interface HistogramSeries {
  metric: MetricDefinition;
  pairs: [string, string][];
  /** One per bound of the definition, then +Inf. */
  perBucket: number[];
  sum: number;
  count: number;
}

/**
 * The counts of one isolate since its last flush, kept in memory (a few thousand series at most:
 * label values are route templates, dependency operations and other bounded sets). Recording is
 * synchronous and cheap (one map lookup by the label values; a histogram keeps a count per bucket
 * and becomes Prometheus's cumulative samples only when drained); `drain` hands everything over
 * and starts afresh in the same turn, so no count is recorded twice or lost between the two.
 */
export class MetricsBuffer implements MetricsRecorder {
  /** The worker this isolate runs (`api`, `processor`): the `worker` label of dependency calls. */
  worker = "api";
  /** False (METRICS=off): nothing is recorded. */
  enabled = true;
  #add = new Map<string, Sample>();
  #set = new Map<string, Sample>();
  #histograms = new Map<string, HistogramSeries>();

  add<L extends string>(metric: MetricDefinition<L>, labels: Labels<L>, delta = 1): void {
    if (!this.enabled) return;
    const at = seriesKey(metric, labels);
    const existing = this.#add.get(at);
    if (existing) existing.value += delta;
    else {
      const pairs = JSON.stringify(labelPairs(metric, labels));
      this.#add.set(at, { family: metric.name, sample: metric.name, labels: pairs, value: delta });
    }
  }

  set<L extends string>(metric: MetricDefinition<L>, labels: Labels<L>, value: number): void {
    if (!this.enabled) return;
    const pairs = JSON.stringify(labelPairs(metric, labels));
    this.#set.set(key(metric.name, pairs), { family: metric.name, sample: metric.name, labels: pairs, value });
  }

  observe<L extends string>(metric: MetricDefinition<L>, labels: Labels<L>, value: number): void {
    if (!this.enabled) return;
    const at = seriesKey(metric, labels);
    let series = this.#histograms.get(at);
    if (!series) {
      const bounds = metric.buckets ?? [];
      series = {
        metric,
        pairs: labelPairs(metric, labels),
        perBucket: new Array(bounds.length + 1).fill(0),
        sum: 0,
        count: 0,
      };
      this.#histograms.set(at, series);
    }
    const bounds = metric.buckets ?? [];
    let bucket = 0;
    while (bucket < bounds.length && value > (bounds[bucket] ?? Number.POSITIVE_INFINITY)) bucket += 1;
    series.perBucket[bucket] = (series.perBucket[bucket] ?? 0) + 1;
    series.sum += value;
    series.count += 1;
  }

  /** Whether anything was recorded since the last drain. */
  get pending(): boolean {
    return this.#add.size > 0 || this.#set.size > 0 || this.#histograms.size > 0;
  }

  /**
   * Everything recorded since the last drain, or undefined when nothing was; the buffer starts
   * empty. Histograms leave as every cumulative bucket (0 where nothing fell, so each label set
   * has all of them), `_sum` and `_count`.
   */
  drain(): MetricsBatch | undefined {
    if (!this.pending) return undefined;
    const add = [...this.#add.values()];
    for (const { metric, pairs, perBucket, sum, count } of this.#histograms.values()) {
      const name = metric.name;
      let cumulative = 0;
      [...(metric.buckets ?? []), Number.POSITIVE_INFINITY].forEach((bound, i) => {
        cumulative += perBucket[i] ?? 0;
        const labels = JSON.stringify([...pairs, ["le", bucketBound(bound)]]);
        add.push({ family: name, sample: `${name}_bucket`, labels, value: cumulative });
      });
      const plain = JSON.stringify(pairs);
      add.push({ family: name, sample: `${name}_sum`, labels: plain, value: sum });
      add.push({ family: name, sample: `${name}_count`, labels: plain, value: count });
    }
    const batch = { add, set: [...this.#set.values()] };
    this.#add = new Map();
    this.#set = new Map();
    this.#histograms = new Map();
    return batch;
  }

  /**
   * Takes back a batch whose flush failed: its deltas go with the next drain (beside any newer
   * delta of the same series: the shard adds every one it is sent), and its gauges are kept where
   * no newer value was set.
   */
  restore(batch: MetricsBatch): void {
    for (const sample of batch.add) {
      const at = key(sample.sample, sample.labels);
      const existing = this.#add.get(at);
      if (existing) existing.value += sample.value;
      else this.#add.set(at, { ...sample });
    }
    for (const sample of batch.set) {
      const at = key(sample.sample, sample.labels);
      if (!this.#set.has(at)) this.#set.set(at, sample);
    }
  }
}

/**
 * This isolate's buffer. Module state is per isolate and shared by its concurrent requests, which
 * is what is wanted: they flush together (`flush.ts`).
 */
export const isolateMetrics = new MetricsBuffer();

/** The span of a dependency call: kind and attributes after the OpenTelemetry semantic conventions. */
function callSpan(dependency: string, operation: string) {
  const common = { "techcorp.dependency": dependency, "techcorp.operation": operation };
  const byDependency: Record<string, Record<string, string>> = {
    postgres: { "db.system.name": "postgresql", "db.operation.name": operation },
    redis: { "db.system.name": "redis", "db.operation.name": operation },
    s3: { "rpc.system": "aws-api", "rpc.service": "S3", "rpc.method": operation },
    durable_object: { "rpc.system": "cloudflare_durable_objects", "rpc.method": operation },
    queue: {
      "messaging.system": "cloudflare_queues",
      "messaging.operation.type": "send",
      "messaging.destination.name": operation.slice(0, operation.lastIndexOf(".")),
    },
  };
  return {
    name: `${dependency} ${operation}`,
    options: {
      kind: dependency === "queue" ? SpanKind.PRODUCER : SpanKind.CLIENT,
      attributes: { ...common, ...(byDependency[dependency] ?? { "peer.service": dependency }) },
    },
  };
}

/**
 * Runs `work` (a call to `dependency`, e.g. `postgres`, `s3`; `operation` from a bounded set, e.g.
 * `GetObject`, `statement`) in a client span of its own (a producer span for a queue's send), and
 * records its duration in seconds and whether it settled `ok` or `error` in
 * `techcorp_dependency_call_duration_seconds`. Returns or rethrows what `work` does.
 */
export async function timeCall<T>(
  dependency: string,
  operation: string,
  work: () => Promise<T>,
  recorder: MetricsRecorder & { worker: string } = isolateMetrics,
): Promise<T> {
  const started = performance.now();
  let outcome = "error";
  const { name, options } = callSpan(dependency, operation);
  try {
    const result = await inSpan(name, options, () => work());
    outcome = "ok";
    return result;
  } finally {
    const seconds = (performance.now() - started) / 1000;
    recorder.observe(DEPENDENCY_CALL_DURATION, { worker: recorder.worker, dependency, operation, outcome }, seconds);
  }
}

/**
 * Records a call already under way, as `timeCall` does, without wrapping what it returns: for
 * results that must reach the caller untouched (a Durable Object's RPC promise, which can be
 * pipelined). `started` is `performance.now()` when the call began. Its span starts now (a child
 * of the active one) and ends when the call settles. Returns `call`.
 */
export function watchCall<T>(dependency: string, operation: string, started: number, call: T): T {
  const { name, options } = callSpan(dependency, operation);
  const span = startSpan(name, options);
  const record = (outcome: string, error?: unknown) => {
    if (outcome === "error") recordFailure(span, error);
    span.end();
    isolateMetrics.observe(
      DEPENDENCY_CALL_DURATION,
      { worker: isolateMetrics.worker, dependency, operation, outcome },
      (performance.now() - started) / 1000,
    );
  };
  if (call && typeof (call as { then?: unknown }).then === "function") {
    (call as unknown as PromiseLike<unknown>).then(
      () => record("ok"),
      (error: unknown) => record("error", error),
    );
  } else record("ok");
  return call;
}
