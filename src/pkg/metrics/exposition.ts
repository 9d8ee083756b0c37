import { parseAccept } from "hono/utils/accept";
import { type Metric, Registry } from "prom-client";
import { CATALOG, type MetricDefinition } from "./catalog.ts";
import type { Sample } from "./recorder.ts";

/** `text/plain; version=0.0.4` (Prometheus) or OpenMetrics 1.0, as the scraper's Accept asks. */
export type ExpositionFormat = "prometheus" | "openmetrics";

/**
 * The format a scraper asked for (Prometheus docs, "Exposition formats"): OpenMetrics when its
 * `Accept` prefers `application/openmetrics-text` to `text/plain` by quality (RFC 9110 §12.5.1,
 * parsed by Hono's `parseAccept`; `q=0` refuses it), else the classic text format, also when
 * nothing is said. Prometheus asks for OpenMetrics first when it may.
 */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  let openMetrics = 0;
  let text = 0;
  for (const { type, q } of parseAccept(accept ?? "")) {
    const media = type.toLowerCase();
    if (media === "application/openmetrics-text") openMetrics = Math.max(openMetrics, q);
    else if (media === "text/plain" || media === "text/*" || media === "*/*") text = Math.max(text, q);
  }
  return openMetrics > 0 && openMetrics > text ? "openmetrics" : "prometheus";
}

type Value = { labels: Record<string, string>; value: number; metricName?: string };

/** A histogram's samples in the order the formats require: per label set, buckets by bound, then sum and count. */
function histogramOrder(family: string, samples: Sample[]): Sample[] {
  const rank = (sample: Sample) => {
    if (sample.sample === `${family}_bucket`) {
      const le = (JSON.parse(sample.labels) as [string, string][]).find(([name]) => name === "le")?.[1];
      return le === "+Inf" ? Number.MAX_VALUE : Number(le);
    }
    return sample.sample === `${family}_sum` ? Number.POSITIVE_INFINITY : Number.NaN;
  };
  const labelSet = (sample: Sample) =>
    JSON.stringify((JSON.parse(sample.labels) as [string, string][]).filter(([name]) => name !== "le"));
  const groups = new Map<string, Sample[]>();
  for (const sample of samples) {
    const set = labelSet(sample);
    groups.set(set, [...(groups.get(set) ?? []), sample]);
  }
  // NaN (the count) sorts last: compare it as above every number.
  const order = (a: number, b: number) => (Number.isNaN(a) ? 1 : Number.isNaN(b) ? -1 : a - b);
  return [...groups.values()].flatMap((group) => group.sort((a, b) => order(rank(a), rank(b))));
}

function valuesOf(definition: MetricDefinition, samples: Sample[]): Value[] {
  const ordered = definition.type === "histogram" ? histogramOrder(definition.name, samples) : samples;
  return ordered.map((sample) => ({
    labels: Object.fromEntries(JSON.parse(sample.labels) as [string, string][]),
    value: sample.value,
    // Histograms name each sample; a counter's sample is the family (OpenMetrics adds `_total` itself).
    ...(definition.type === "histogram" ? { metricName: sample.sample } : {}),
  }));
}

/**
 * The exposition of `samples` (already summed across shards), by prom-client's formatter: HELP and
 * TYPE from the catalog, families in its order; samples of families the catalog does not know (a
 * renamed metric's leftovers in a shard) are left out. Returns the body and its content type.
 */
export async function formatExposition(
  samples: Iterable<Sample>,
  format: ExpositionFormat,
): Promise<{ body: string; contentType: string }> {
  const byFamily = new Map<string, Sample[]>();
  for (const sample of samples) byFamily.set(sample.family, [...(byFamily.get(sample.family) ?? []), sample]);
  const registry = new Registry();
  if (format === "openmetrics") registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
  for (const definition of CATALOG) {
    const family = byFamily.get(definition.name);
    if (!family) continue;
    const snapshot = {
      name: definition.name,
      help: definition.help,
      type: definition.type,
      aggregator: "sum" as const,
      values: valuesOf(definition, family),
    };
    // prom-client formats any registered object whose get() gives a metric's JSON form (the form
    // its own cluster aggregation registers); the Metric class type asks for more than it reads.
    // For OpenMetrics it renames a registered counter's family (`…_total` → `…`) before get().
    const registered = { ...snapshot, get: async () => ({ ...snapshot, name: registered.name }) };
    registry.registerMetric(registered as unknown as Metric);
  }
  return { body: await registry.metrics(), contentType: registry.contentType };
}
