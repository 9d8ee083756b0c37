import type { MetricsBatch, MetricsBuffer } from "./recorder.ts";

/** An aggregator shard as an isolate sees it (the `MetricsAggregator` Durable Object's RPC). */
export interface MetricsSink {
  record(batch: MetricsBatch): Promise<unknown>;
}

/** Where and how often an isolate flushes. */
export interface FlushOptions {
  /** The shard this isolate sends to. */
  sink: () => MetricsSink;
  /** How long counts wait after the first one since the last flush, in ms (METRICS_FLUSH_INTERVAL_MS). */
  intervalMs: number;
  /** Keeps the flush alive after the response (`ExecutionContext.waitUntil`). */
  waitUntil: (promise: Promise<unknown>) => void;
}

/**
 * Sends what `buffer` holds to the sink (or the sink a function gives) now. A failed send gives
 * the batch back to the buffer, so the next flush carries it; never throws. Returns whether it was sent.
 */
export async function flushMetrics(buffer: MetricsBuffer, sink: MetricsSink | (() => MetricsSink)): Promise<boolean> {
  const batch = buffer.drain();
  if (!batch) return true;
  try {
    await (typeof sink === "function" ? sink() : sink).record(batch);
    return true;
  } catch {
    buffer.restore(batch);
    return false;
  }
}

const scheduled = new WeakSet<MetricsBuffer>();

/**
 * Makes sure a flush of `buffer` is on its way: the first request after a flush starts one that
 * waits `intervalMs` and then sends everything recorded meanwhile, kept alive by `waitUntil` after
 * that request's response (Workers give `waitUntil` up to 30 s); later requests find it scheduled
 * and add nothing, so an isolate makes at most one aggregator call per interval and no request
 * waits for one. What is lost when an isolate dies: the counts of its last interval, if it is
 * killed before the timer fires (README "Observability").
 */
export function scheduleFlush(buffer: MetricsBuffer, options: FlushOptions): void {
  if (scheduled.has(buffer) || !buffer.pending) return;
  scheduled.add(buffer);
  const flush = async () => {
    if (options.intervalMs > 0) await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
    scheduled.delete(buffer);
    await flushMetrics(buffer, options.sink);
  };
  options.waitUntil(flush());
}

/** The name of aggregator shard `shard` (0 ≤ shard < METRICS_SHARDS). */
export function shardName(shard: number): string {
  return `shard-${shard}`;
}

let isolateShard: number | undefined;

/**
 * The aggregator shard this isolate sends to (of `shards`, METRICS_SHARDS): picked at random on
 * first use (randomness is refused at startup), so isolates spread over the shards.
 */
export function isolateSink(namespace: { getByName(name: string): MetricsSink }, shards: number): MetricsSink {
  isolateShard ??= Math.random();
  return namespace.getByName(shardName(Math.floor(isolateShard * shards)));
}
