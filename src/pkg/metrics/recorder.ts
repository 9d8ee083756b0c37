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

const key = (sample: string, labels: string) => `${sample}\u0000${labels}`;

/**
 * The counts of one isolate since its last flush, kept in memory (a few thousand series at most:
 * label values are route templates, dependency operations and other bounded sets). Recording is
 * synchronous and allocation-light; `drain` hands everything over and starts afresh in the same
 * turn, so no count is recorded twice or lost between the two.
 */
export class MetricsBuffer implements MetricsRecorder {
  /** The worker this isolate runs (`api`, `processor`): the `worker` label of dependency calls. */
  worker = "api";
  /** False (METRICS=off): nothing is recorded. */
  enabled = true;
  #add = new Map<string, Sample>();
  #set = new Map<string, Sample>();

  add<L extends string>(metric: MetricDefinition<L>, labels: Labels<L>, delta = 1): void {
    if (!this.enabled) return;
    this.#addSample(metric.name, metric.name, JSON.stringify(labelPairs(metric, labels)), delta);
  }

  set<L extends string>(metric: MetricDefinition<L>, labels: Labels<L>, value: number): void {
    if (!this.enabled) return;
    const pairs = JSON.stringify(labelPairs(metric, labels));
    this.#set.set(key(metric.name, pairs), { family: metric.name, sample: metric.name, labels: pairs, value });
  }

  observe<L extends string>(metric: MetricDefinition<L>, labels: Labels<L>, value: number): void {
    if (!this.enabled) return;
    const pairs = labelPairs(metric, labels);
    const name = metric.name;
    // Every bucket is written (0 where the value is above it), so each label set has all of them.
    for (const bound of [...(metric.buckets ?? []), Number.POSITIVE_INFINITY]) {
      const bucket = JSON.stringify([...pairs, ["le", bucketBound(bound)]]);
      this.#addSample(name, `${name}_bucket`, bucket, value <= bound ? 1 : 0);
    }
    const plain = JSON.stringify(pairs);
    this.#addSample(name, `${name}_sum`, plain, value);
    this.#addSample(name, `${name}_count`, plain, 1);
  }

  /** Whether anything was recorded since the last drain. */
  get pending(): boolean {
    return this.#add.size > 0 || this.#set.size > 0;
  }

  /** Everything recorded since the last drain, or undefined when nothing was; the buffer starts empty. */
  drain(): MetricsBatch | undefined {
    if (!this.pending) return undefined;
    const batch = { add: [...this.#add.values()], set: [...this.#set.values()] };
    this.#add = new Map();
    this.#set = new Map();
    return batch;
  }

  /**
   * Takes back a batch whose flush failed: its deltas are added to what was recorded since, and
   * its gauges kept where no newer value was set.
   */
  restore(batch: MetricsBatch): void {
    for (const sample of batch.add) this.#addSample(sample.family, sample.sample, sample.labels, sample.value);
    for (const sample of batch.set) {
      const at = key(sample.sample, sample.labels);
      if (!this.#set.has(at)) this.#set.set(at, sample);
    }
  }

  #addSample(family: string, sample: string, labels: string, delta: number): void {
    const at = key(sample, labels);
    const existing = this.#add.get(at);
    if (existing) existing.value += delta;
    else this.#add.set(at, { family, sample, labels, value: delta });
  }
}

/**
 * This isolate's buffer. Module state is per isolate and shared by its concurrent requests, which
 * is what is wanted: they flush together (`flush.ts`).
 */
export const isolateMetrics = new MetricsBuffer();

/**
 * Runs `work` (a call to `dependency`, e.g. `postgres`, `s3`; `operation` from a bounded set, e.g.
 * `GetObject`, `statement`) and records its duration in seconds and whether it settled `ok` or
 * `error` in `techcorp_dependency_call_duration_seconds`. Returns or rethrows what `work` does.
 */
export async function timeCall<T>(
  dependency: string,
  operation: string,
  work: () => Promise<T>,
  recorder: MetricsRecorder & { worker: string } = isolateMetrics,
): Promise<T> {
  const started = performance.now();
  let outcome = "error";
  try {
    const result = await work();
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
 * pipelined). `started` is `performance.now()` when the call began. Returns `call`.
 */
export function watchCall<T>(dependency: string, operation: string, started: number, call: T): T {
  const record = (outcome: string) =>
    isolateMetrics.observe(
      DEPENDENCY_CALL_DURATION,
      { worker: isolateMetrics.worker, dependency, operation, outcome },
      (performance.now() - started) / 1000,
    );
  if (call && typeof (call as { then?: unknown }).then === "function") {
    (call as unknown as PromiseLike<unknown>).then(
      () => record("ok"),
      () => record("error"),
    );
  } else record("ok");
  return call;
}
