// Search benchmarks: GET /search at 10k and 100k documents, uncached and cached, beside the very
// same service code and SQL run from Node straight against Postgres (its HTTP-mode batches run by
// bench/direct-http.ts over one open node-postgres connection: no Worker, no HTTP, no Redis): the
// ratio is what the platform adds. Autocomplete likewise. Requests go one at a time, so each
// number is a latency, not a throughput.
import { Redis } from "@upstash/redis";
import pg from "pg";
import { loadBulk } from "../scripts/corpus/bulk.ts";
import type { Actor } from "../src/db/actor.ts";
import type { Viewer } from "../src/db/queries/documents.ts";
import { PERMISSION_NAMES } from "../src/db/schema/users.ts";
import { normalizeQuery } from "../src/search/query-text.ts";
import { type SearchRequest, search, suggest } from "../src/search/search-service.ts";
import { directHttpDatabase } from "./direct-http.ts";

export interface SearchBenchOptions {
  apiUrl: string;
  stackEnv: Record<string, string>;
  /** Corpus sizes, ascending: each run adds to the previous corpus (same seed). */
  sizes: number[];
  /** Timed requests per scenario. */
  requests: number;
}

/** What people type: one word, two, a phrase, OR, an exclusion, a rare word, a typo (no results). */
const QUERIES = [
  "budget",
  "deployment rollback",
  '"cash flow"',
  "invoice OR billing",
  "contract -renewal",
  "hiring interview feedback",
  "quarterly revenue forecast",
  "kubernetes failover",
  "privacy consent",
  "webinar",
];
const PREFIXES = ["bud", "depl", "onb", "contr", "quartrly", "webi", "q3 2025", "fin"];

const percentile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

interface Timing {
  p50: number;
  p95: number;
}

async function time(
  requests: number,
  run: (i: number) => Promise<void>,
  before?: (i: number) => Promise<void>,
): Promise<Timing> {
  // Warm-up: connections, JIT, plan caches.
  for (let i = 0; i < 5; i++) {
    await before?.(i);
    await run(i);
  }
  const samples: number[] = [];
  for (let i = 0; i < requests; i++) {
    await before?.(i);
    const started = performance.now();
    await run(i);
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 0.5), p95: percentile(samples, 0.95) };
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

function row(label: string, candidate: Timing, baseline: Timing): string {
  return `  ${label.padEnd(34)} p50 ${ms(candidate.p50).padStart(9)}  p95 ${ms(candidate.p95).padStart(9)}   direct p50 ${ms(baseline.p50).padStart(9)}  p95 ${ms(baseline.p95).padStart(9)}   ratio p50 ${(candidate.p50 / baseline.p50).toFixed(2)}× p95 ${(candidate.p95 / baseline.p95).toFixed(2)}×`;
}

/**
 * An administrator (searches the whole corpus), made through the API and Postgres, and how to get
 * a fresh access token for it: a 100,000-document load can outlast one token's lifetime.
 */
async function admin(apiUrl: string, databaseUrl: string): Promise<{ id: string; login: () => Promise<string> }> {
  const username = `bench-admin-${crypto.randomUUID().slice(0, 8)}`;
  const password = "benchmark password 1";
  const registered = await fetch(`${apiUrl}/users`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: `${username}@example.com`, username, password }),
  });
  if (registered.status !== 201) throw new Error(`registration: ${registered.status} ${await registered.text()}`);
  const { id } = (await registered.json()) as { id: string };
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("begin");
    await client.query("select set_config('app.role', 'system', true)");
    await client.query("update users set role = 'admin' where id = $1", [id]);
    await client.query("commit");
  } finally {
    await client.end();
  }
  const login = async () => {
    const res = await fetch(`${apiUrl}/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "password", username, password }).toString(),
    });
    if (res.status !== 200) throw new Error(`login: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { access_token: string }).access_token;
  };
  return { id, login };
}

export async function runSearchBenchmarks(options: SearchBenchOptions): Promise<void> {
  const { apiUrl, stackEnv } = options;
  const databaseUrl = stackEnv.DATABASE_URL ?? "";
  const redis = new Redis({
    url: stackEnv.UPSTASH_REDIS_REST_URL ?? "",
    token: stackEnv.UPSTASH_REDIS_REST_TOKEN ?? "",
  });
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  const http = directHttpDatabase(pool);
  const user = await admin(apiUrl, databaseUrl);
  const actor: Actor = { kind: "user", userId: user.id, role: "admin", permissions: PERMISSION_NAMES };
  const viewer: Viewer = { userId: user.id, readsAll: true };
  const headers = { authorization: "" };

  const apiSearch = async (q: string) => {
    const res = await fetch(`${apiUrl}/search?${new URLSearchParams({ q })}`, { headers });
    if (res.status !== 200) throw new Error(`GET /search: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
    return res.headers.get("x-cache");
  };
  const directSearch = async (q: string) => {
    const request: SearchRequest = {
      text: normalizeQuery(q),
      filters: {},
      sort: "relevance",
      limit: 10,
      cursor: undefined,
    };
    await search({ http, actor, viewer }, request);
  };
  /** A new generation for the read-everything scope: the next search cannot be served from the cache. */
  const bust = () => redis.set("search:gen:all", crypto.randomUUID(), { ex: 600 }).then(() => undefined);

  try {
    console.log(
      `Search: ${options.requests} sequential requests per scenario over ${QUERIES.length} queries, as an admin (the whole corpus); medians of latency; "direct" = the same service code and SQL from Node over one open Postgres connection\n`,
    );
    for (const size of options.sizes) {
      const loaded = await loadBulk({ seed: 1, count: size, databaseUrl });
      await pool.query("analyze");
      headers.authorization = `Bearer ${await user.login()}`;
      console.log(
        `${size.toLocaleString("en")} documents (bulk load added ${loaded.inserted.toLocaleString("en")} in ${loaded.seconds.toFixed(0)} s)`,
      );

      const q = (i: number) => QUERIES[i % QUERIES.length] as string;
      const direct = await time(options.requests, (i) => directSearch(q(i)));
      const uncached = await time(
        options.requests,
        async (i) => {
          const cache = await apiSearch(q(i));
          if (cache !== "MISS") throw new Error(`expected a cache miss, got ${cache}`);
        },
        bust,
      );
      // Every query once, then only hits.
      for (const query of QUERIES) await apiSearch(query);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const cached = await time(options.requests, async (i) => {
        const cache = await apiSearch(q(i));
        if (cache !== "HIT") throw new Error(`expected a cache hit, got ${cache}`);
      });
      console.log(row("GET /search, uncached", uncached, direct));
      console.log(row("GET /search, cached", cached, direct));

      const p = (i: number) => PREFIXES[i % PREFIXES.length] as string;
      const directSuggest = await time(options.requests, (i) =>
        suggest({ http, actor, viewer }, p(i), 8).then(() => undefined),
      );
      const apiSuggest = await time(options.requests, async (i) => {
        const res = await fetch(`${apiUrl}/search/suggest?${new URLSearchParams({ q: p(i) })}`, { headers });
        if (res.status !== 200) throw new Error(`GET /search/suggest: ${res.status}`);
        await res.arrayBuffer();
      });
      console.log(row("GET /search/suggest", apiSuggest, directSuggest));
      console.log("");
    }
  } finally {
    await pool.end();
  }
}
