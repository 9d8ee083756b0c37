import { DurableObject } from "cloudflare:workers";
import { METRICS_SERIES_DROPPED } from "../pkg/metrics/catalog.ts";
import type { MetricsBatch, Sample } from "../pkg/metrics/recorder.ts";

/**
 * The most series one shard keeps. Label values are bounded sets (route templates, dependency
 * operations, queue names), so a few thousand exist; the cap is a fuse against a label that
 * turns out unbounded, whose new series are then dropped and counted
 * (`techcorp_metrics_series_dropped_total`) instead of growing the shard without end.
 */
export const MAX_SERIES_PER_SHARD = 50_000;

const seriesKey = (series: { sample: string; labels: string }) => `${series.sample}\u0000${series.labels}`;

type Row = { family: string; sample: string; labels: string; value: number; kind: string };

/**
 * One shard of the metrics every isolate of both workers records (`METRICS`, by name `shard-<n>`):
 * isolates send their counts' deltas and their gauges' last values (`record`), the scrape of
 * `GET /metrics` reads every shard's totals (`read`) and adds them up. Totals live in the object's
 * SQLite storage, so counters survive the object's eviction and a deploy: they only grow, as
 * Prometheus expects of a counter. A Durable Object runs one call at a time, so concurrent
 * flushes add up exactly.
 */
export class MetricsAggregator extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** The series stored, as `sample + NUL + labels`: whether a sample starts a new series, without a read. */
  private readonly known: Set<string>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // kind: "add" (counters, histogram samples: summed) or "set" (gauges: the last value wins).
    this.sql.exec(
      "create table if not exists series (sample text not null, labels text not null, family text not null, kind text not null, value real not null, primary key (sample, labels))",
    );
    this.known = new Set(
      this.sql
        .exec<{ sample: string; labels: string }>("select sample, labels from series")
        .toArray()
        .map((row) => seriesKey(row)),
    );
  }

  /** Adds the batch's deltas and sets its gauges, in one transaction; returns the series refused for the cap. */
  async record(batch: MetricsBatch): Promise<{ dropped: number }> {
    let dropped = 0;
    // Series this batch starts, known once the transaction commits.
    const started = new Set<string>();
    this.ctx.storage.transactionSync(() => {
      const write = (sample: Sample, kind: "add" | "set") => {
        const key = seriesKey(sample);
        if (!this.known.has(key) && !started.has(key)) {
          if (this.known.size + started.size >= MAX_SERIES_PER_SHARD) {
            dropped += 1;
            return;
          }
          started.add(key);
        }
        this.sql.exec(
          kind === "add"
            ? "insert into series (sample, labels, family, kind, value) values (?, ?, ?, 'add', ?) on conflict (sample, labels) do update set value = value + excluded.value"
            : "insert into series (sample, labels, family, kind, value) values (?, ?, ?, 'set', ?) on conflict (sample, labels) do update set value = excluded.value",
          sample.sample,
          sample.labels,
          sample.family,
          sample.value,
        );
      };
      for (const sample of batch.add) write(sample, "add");
      for (const sample of batch.set) write(sample, "set");
      if (dropped > 0) {
        // The fuse's own counter is one series, written whatever the cap.
        this.sql.exec(
          "insert into series (sample, labels, family, kind, value) values (?, '[]', ?, 'add', ?) on conflict (sample, labels) do update set value = value + excluded.value",
          METRICS_SERIES_DROPPED.name,
          METRICS_SERIES_DROPPED.name,
          dropped,
        );
      }
    });
    for (const key of started) this.known.add(key);
    return { dropped };
  }

  /** Every series this shard holds, with whether it is summed (`add`) or last-value (`set`). */
  async read(): Promise<(Sample & { kind: "add" | "set" })[]> {
    return this.sql
      .exec<Row>("select family, sample, labels, kind, value from series")
      .toArray()
      .map((row) => ({ ...row, kind: row.kind === "set" ? "set" : "add" }));
  }
}
