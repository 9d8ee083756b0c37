import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../app/context.ts";
import { createRouter } from "../../app/create-app.ts";
import { asSystem } from "../../app/database.ts";
import { readiness } from "../../app/readiness.ts";
import { selectDocumentGroups } from "../../db/queries/analytics.ts";
import { readScrapeFigures, selectAccountAndProjectTotals } from "../../db/queries/metrics.ts";
import { DOCUMENT_STATUSES } from "../../db/schema/documents.ts";
import { constantTimeEqual } from "../../pkg/crypto/constant-time.ts";
import { sha256 } from "../../pkg/crypto/digest.ts";
import { ApiError } from "../../pkg/errors/api-error.ts";
import { problemResponses } from "../../pkg/errors/problem.ts";
import {
  DEPENDENCY_UP,
  DOCUMENTS,
  type MetricDefinition,
  PROJECTS,
  STORAGE_LIMIT,
  STORAGE_USED,
  USERS,
} from "../../pkg/metrics/catalog.ts";
import { formatExposition, negotiateFormat } from "../../pkg/metrics/exposition.ts";
import { flushMetrics, isolateSink, shardName } from "../../pkg/metrics/flush.ts";
import { isolateMetrics, type Labels, MetricsBuffer, type Sample } from "../../pkg/metrics/recorder.ts";
import { publicRoute } from "../openapi.ts";

// A scraper polls it, and a guessed token must not get many tries: the probe policy, per address.
const route = publicRoute("probe", {
  method: "get",
  path: "/metrics",
  tags: ["System"],
  summary: "Metrics for Prometheus",
  description:
    "Every isolate's counts of both workers, added up across the aggregator's shards, and gauges read at the scrape (readiness of each dependency, storage used and its limits, documents by status, users, projects), in the Prometheus text format (0.0.4), or OpenMetrics 1.0 when `Accept` asks for `application/openmetrics-text`. Needs `Authorization: Bearer <METRICS_TOKEN>`, a secret of its own (not an access token); 404 when the secret is not set. README \"Observability\" lists the metrics.",
  security: [{ metricsToken: [] }],
  responses: {
    200: {
      description: "The exposition.",
      content: {
        "text/plain; version=0.0.4": { schema: z.string() },
        "application/openmetrics-text; version=1.0.0": { schema: z.string() },
      },
    },
    ...problemResponses(401, 404, 429),
  },
});

/**
 * Whether the request carries the metrics token. The SHA-256 digests are compared, so the time
 * taken tells nothing of the token, its length included.
 */
async function presentsToken(c: Context<AppEnv>, token: string): Promise<boolean> {
  const header = c.req.header("authorization") ?? "";
  const presented = /^Bearer ([\x21-\x7e]+)$/i.exec(header)?.[1] ?? "";
  const [expected, given] = await Promise.all([sha256(token), sha256(presented)]);
  return constantTimeEqual(expected, given);
}

/** Totals of every shard: counters and histograms summed, gauges the highest (timestamps: the latest). */
function addUp(shards: (Sample & { kind: "add" | "set" })[][]): Map<string, Sample> {
  const totals = new Map<string, Sample>();
  for (const sample of shards.flat()) {
    const key = `${sample.sample}\u0000${sample.labels}`;
    const known = totals.get(key);
    if (!known)
      totals.set(key, { family: sample.family, sample: sample.sample, labels: sample.labels, value: sample.value });
    else known.value = sample.kind === "set" ? Math.max(known.value, sample.value) : known.value + sample.value;
  }
  return totals;
}

export const scrapeMetrics = createRouter().openapi(route, async (c) => {
  const { config } = c.get("services");
  const token = config.metricsEndpoint.token;
  if (!token) throw new ApiError("not_found", { detail: "Metrics are not enabled here (METRICS_TOKEN is not set)." });
  if (!(await presentsToken(c, token))) {
    throw new ApiError("unauthorized", {
      detail: "GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`.",
      headers: { "WWW-Authenticate": 'Bearer realm="metrics"' },
    });
  }
  const namespace = c.env.METRICS_AGGREGATOR;
  const shards = Array.from({ length: config.metrics.shards }, (_, shard) => namespace.getByName(shardName(shard)));
  // This isolate's own counts first, so the scrape is current for whoever made them here.
  if (config.metrics.enabled) await flushMetrics(isolateMetrics, isolateSink(namespace, config.metrics.shards));
  // Postgres down leaves its gauges out (and its readiness at 0, which pages) rather than failing
  // the scrape, which would blind every alert; a shard that cannot be read fails it (503), since
  // counters read without it would seem to fall.
  const [stored, ready, figures] = await Promise.all([
    Promise.all(shards.map((shard) => shard.read())),
    readiness(c.get("services"), c.get("requestId"), c.get("logger")),
    asSystem(c)
      .readStale((db) => [selectAccountAndProjectTotals(db), selectDocumentGroups(db)])
      .then(
        ([totals, groups]) => readScrapeFigures(totals, groups),
        (error: unknown) => {
          c.get("logger").warn("metrics: the business gauges could not be read", { error });
          return undefined;
        },
      ),
  ]);

  // The scrape's own gauges, in a buffer of their own (never flushed: they are read anew each time).
  const now = new MetricsBuffer();
  const gauge = <L extends string>(metric: MetricDefinition<L>, labels: Labels<L>, value: number) =>
    now.set(metric, labels, value);
  for (const [dependency, check] of Object.entries(ready.checks)) {
    gauge(DEPENDENCY_UP, { dependency }, check.status === "down" ? 0 : 1);
  }
  gauge(STORAGE_LIMIT, { store: "postgres" }, config.metricsEndpoint.storageLimits.postgres);
  gauge(STORAGE_LIMIT, { store: "documents" }, config.metricsEndpoint.storageLimits.documents);
  if (figures) {
    gauge(STORAGE_USED, { store: "postgres" }, figures.storageBytes.postgres);
    gauge(STORAGE_USED, { store: "documents" }, figures.storageBytes.documents);
    for (const status of DOCUMENT_STATUSES) {
      gauge(DOCUMENTS, { status }, figures.documentsByStatus.find((entry) => entry.status === status)?.count ?? 0);
    }
    gauge(USERS, {}, figures.users);
    gauge(PROJECTS, { state: "active" }, figures.projects.active);
    gauge(PROJECTS, { state: "archived" }, figures.projects.archived);
  }

  const samples = [...addUp(stored).values(), ...(now.drain()?.set ?? [])];
  const { body, contentType } = await formatExposition(samples, negotiateFormat(c.req.header("accept")));
  return c.body(body, 200, { "content-type": contentType, "cache-control": "no-store", vary: "Accept" });
});
