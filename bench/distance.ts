// The distance group (`BENCH_ONLY=distance`): requests one at a time with the data services 0 ms
// and 50 ms away (the stack's round-trip meter, stack/distance.ts), printing per request the
// latency, the round trips to Postgres, Redis and S3 it waited through one after the other, the
// Durable Object calls it made, and the floor: the round trips it cannot avoid × the RTT.
import { DATA_SERVICES, type DataService, type RoundTripCount } from "../stack/distance.ts";

export interface DistanceBenchOptions {
  apiUrl: string;
  /** The stack's round-trip meter (`LaunchedStack.meterUrl`). */
  meterUrl: string;
  /** Round-trip times to measure at, in ms. */
  rttsMs: number[];
  /** Measured requests per scenario and RTT (after two unmeasured ones). */
  requests: number;
}

/** The round trips a scenario cannot avoid, one after the other, and why. */
interface Floor {
  trips: Partial<Record<DataService, number>>;
  reason: string;
}

interface Session {
  token: string;
  refreshToken: string;
}

interface Scenario {
  name: string;
  floor: Floor;
  /** The status a successful request answers; 200 unless said. */
  status?: number;
  /** Sends the request; resolves once its body has been read. */
  send(session: Session): Promise<Response>;
  /** What is wrong with a measured answer, if anything (an uncached search served from the cache). */
  check?(res: Response): string | undefined;
  /** After the measurement: takes up what the answer changed, waits for work it started in the background. */
  settle?(body: string): Promise<void>;
}

interface Sample {
  ms: number;
  trips: Record<DataService, RoundTripCount>;
  durableObjectCalls: number | undefined;
}

const PASSWORD = "benchmark password 1";

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** `Server-Timing: durable-objects;desc="2"` (src/gateway/durable-object-calls.ts), if sent. */
function durableObjectCalls(res: Response): number | undefined {
  const header = res.headers.get("server-timing") ?? "";
  const match = /(?:^|,)\s*durable-objects\s*;[^,]*?desc="?(\d+)"?/.exec(header);
  return match ? Number(match[1]) : undefined;
}

async function meter(meterUrl: string, path: string, init?: RequestInit): Promise<Response> {
  const res = await fetch(`${meterUrl}${path}`, init);
  if (!res.ok) throw new Error(`meter ${path}: ${res.status} ${await res.text()}`);
  return res;
}

async function expectStatus(res: Response, status: number, what: string): Promise<string> {
  const body = await res.text();
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${body.slice(0, 300)}`);
  return body;
}

/** A fresh user with an access and a refresh token. */
async function signUp(apiUrl: string): Promise<Session> {
  const username = `distance-${crypto.randomUUID().slice(0, 12)}`;
  await expectStatus(
    await fetch(`${apiUrl}/users`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: `${username}@example.com`, username, password: PASSWORD }),
    }),
    201,
    "registration",
  );
  const body = await expectStatus(
    await fetch(`${apiUrl}/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "password", username, password: PASSWORD }).toString(),
    }),
    200,
    "login",
  );
  const tokens = JSON.parse(body) as { access_token: string; refresh_token: string };
  return { token: tokens.access_token, refreshToken: tokens.refresh_token };
}

async function upload(apiUrl: string, session: Session, title: string): Promise<Response> {
  return fetch(`${apiUrl}/documents?title=${encodeURIComponent(title)}&tags=distance`, {
    method: "POST",
    headers: { authorization: `Bearer ${session.token}`, "content-type": "text/plain" },
    body: `# ${title}\n\nQuarterly revenue report notes for the distance benchmark.\n`,
  });
}

async function waitUntilReady(apiUrl: string, session: Session, id: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const res = await fetch(`${apiUrl}/documents/${id}`, { headers: { authorization: `Bearer ${session.token}` } });
    const { status } = (await res.json()) as { status: string };
    if (status === "ready") return;
    if (status === "failed" || status === "quarantined") throw new Error(`document ${id} ended ${status}`);
    if (Date.now() > deadline) throw new Error(`document ${id} not processed in 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until no round trip has started for `quietMs` (the processor and any `waitUntil` work are done). */
async function quiet(meterUrl: string, quietMs = 300): Promise<void> {
  const total = async () => {
    const counts = (await (await meter(meterUrl, "/round-trips")).json()) as Record<DataService, RoundTripCount>;
    return DATA_SERVICES.reduce((sum, service) => sum + counts[service].roundTrips, 0);
  };
  let before = await total();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, quietMs));
    const after = await total();
    if (after === before) return;
    before = after;
  }
}

function scenarios(apiUrl: string, session: Session, documentId: string): Scenario[] {
  const auth = (session: Session) => ({ authorization: `Bearer ${session.token}` });
  let uncached = 0;
  let patched = 0;
  let uploaded = 0;
  return [
    {
      name: "GET /users/me",
      floor: { trips: { postgres: 1 }, reason: "the user's row under RLS: settings + select in one batch" },
      send: (s) => fetch(`${apiUrl}/users/me`, { headers: auth(s) }),
    },
    {
      name: "GET /documents",
      floor: { trips: { postgres: 1 }, reason: "one page under RLS in one batch" },
      send: (s) => fetch(`${apiUrl}/documents`, { headers: auth(s) }),
    },
    {
      name: "GET /documents/{id}",
      floor: { trips: { postgres: 1 }, reason: "permission check and row folded into one batch" },
      send: (s) => fetch(`${apiUrl}/documents/${documentId}`, { headers: auth(s) }),
    },
    {
      name: "GET /search (uncached)",
      floor: {
        trips: { redis: 1, postgres: 1 },
        reason: "cache lookup (a hit would end there), then the search batch; storing it after the answer",
      },
      // A distinct, equivalent filter each time: a new cache key, the same matches.
      send: (s) => {
        uncached += 1;
        const from = new Date(Date.UTC(2000, 0, 1) + uncached).toISOString();
        return fetch(`${apiUrl}/search?q=revenue&createdFrom=${from}`, { headers: auth(s) });
      },
      check: (res) => (res.headers.get("x-cache") === "MISS" ? undefined : "served from the cache"),
    },
    {
      name: "GET /search (cached)",
      floor: { trips: { redis: 1 }, reason: "the cached answer and its generation in one read" },
      send: (s) => fetch(`${apiUrl}/search?q=revenue`, { headers: auth(s) }),
      check: (res) => (res.headers.get("x-cache") === "HIT" ? undefined : "missed the cache"),
    },
    {
      name: "GET /search/suggest",
      floor: { trips: { postgres: 1 }, reason: "titles, tags and popular queries in one batch" },
      send: (s) => fetch(`${apiUrl}/search/suggest?q=quart`, { headers: auth(s) }),
    },
    {
      name: "PATCH /documents/{id}",
      floor: {
        trips: { postgres: 1, redis: 1 },
        reason: "the conditional update in one transaction, then invalidating cached searches after the commit",
      },
      send: (s) => {
        patched += 1;
        return fetch(`${apiUrl}/documents/${documentId}`, {
          method: "PATCH",
          headers: { ...auth(s), "content-type": "application/json" },
          body: JSON.stringify({ title: `Quarterly revenue report ${patched}` }),
        });
      },
    },
    {
      name: "POST /documents (small)",
      floor: {
        trips: { postgres: 2, s3: 1 },
        reason: "the upload intent before the bytes, the object, then the row (nothing half-written on failure)",
      },
      status: 201,
      send: (s) => {
        uploaded += 1;
        return upload(apiUrl, s, `Distance upload ${uploaded}`);
      },
      // Its processing (scan, index, notify) runs on the processor: let it finish before the next.
      settle: (body) => waitUntilReady(apiUrl, session, (JSON.parse(body) as { id: string }).id),
    },
    {
      name: "POST /auth/refresh",
      floor: {
        trips: {},
        reason: "none in the data region: the session and its refresh token live in the user's SESSIONS object",
      },
      send: (s) =>
        fetch(`${apiUrl}/auth/refresh`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ refresh_token: s.refreshToken }).toString(),
        }),
      // The refresh token rotates: the next request uses the new one.
      settle: async (body) => {
        const tokens = JSON.parse(body) as { access_token: string; refresh_token: string };
        session.token = tokens.access_token;
        session.refreshToken = tokens.refresh_token;
      },
    },
  ];
}

/** Runs the distance group and prints one table. */
export async function runDistanceBenchmarks(options: DistanceBenchOptions): Promise<void> {
  const { apiUrl, meterUrl } = options;
  const session = await signUp(apiUrl);
  // A few processed documents to list, read, search and patch.
  const seeded: string[] = [];
  for (let i = 0; i < 5; i++) {
    const body = await expectStatus(await upload(apiUrl, session, `Quarterly revenue report ${i}`), 201, "seed upload");
    seeded.push((JSON.parse(body) as { id: string }).id);
  }
  for (const id of seeded) await waitUntilReady(apiUrl, session, id);
  const [documentId] = seeded;
  if (!documentId) throw new Error("no seeded document");
  const list = scenarios(apiUrl, session, documentId);

  const startRtt = (await (await meter(meterUrl, "/round-trips")).json()) as { rttMs: number };
  const rows: string[][] = [];
  const notes: string[] = [];
  try {
    for (const rtt of options.rttsMs) {
      await meter(meterUrl, "/round-trips/rtt", { method: "PUT", body: JSON.stringify({ rttMs: rtt }) });
      for (const scenario of list) {
        const samples: Sample[] = [];
        for (let i = 0; i < options.requests + 2; i++) {
          await quiet(meterUrl);
          await meter(meterUrl, "/round-trips/reset", { method: "POST" });
          const started = performance.now();
          const res = await scenario.send(session);
          const body = await res.text();
          const answeredAt = Date.now();
          const ms = performance.now() - started;
          if (res.status !== (scenario.status ?? 200)) {
            throw new Error(`${scenario.name}: ${res.status} ${body.slice(0, 300)}`);
          }
          const measured = i >= 2;
          const wrong = measured ? scenario.check?.(res) : undefined;
          if (wrong) notes.push(`${scenario.name} at ${rtt} ms: a measured request ${wrong}`);
          const trips = (await (await meter(meterUrl, `/round-trips?until=${answeredAt}`)).json()) as Record<
            DataService,
            RoundTripCount
          >;
          await scenario.settle?.(body);
          // The first two warm the isolate and the caches; the cached search needs its first miss.
          if (measured) samples.push({ ms, trips, durableObjectCalls: durableObjectCalls(res) });
        }
        rows.push(row(scenario, rtt, samples));
      }
    }
  } finally {
    await meter(meterUrl, "/round-trips/rtt", { method: "PUT", body: JSON.stringify({ rttMs: startRtt.rttMs }) });
  }
  print(rows, options);
  for (const note of notes) console.log(`note: ${note}`);
}

function row(scenario: Scenario, rtt: number, samples: Sample[]): string[] {
  const p50 = percentile(
    samples.map((s) => s.ms),
    50,
  );
  const p95 = percentile(
    samples.map((s) => s.ms),
    95,
  );
  // Sequential round trips per request: the median request's, and the most any request made.
  const trips = (service: DataService) => {
    const counts = samples.map((s) => s.trips[service].sequential);
    const median = percentile(counts, 50);
    const most = Math.max(...counts);
    return most === median ? String(median) : `${median} (≤${most})`;
  };
  const calls = samples.map((s) => s.durableObjectCalls);
  const durableObjects = calls.every((c) => c === undefined)
    ? "?"
    : String(
        percentile(
          calls.map((c) => c ?? 0),
          50,
        ),
      );
  const floorTrips = DATA_SERVICES.reduce((sum, service) => sum + (scenario.floor.trips[service] ?? 0), 0);
  const floorMs = floorTrips * rtt;
  return [
    scenario.name,
    String(rtt),
    p50.toFixed(1),
    p95.toFixed(1),
    trips("postgres"),
    trips("redis"),
    trips("s3"),
    durableObjects,
    `${floorTrips} = ${floorMs} ms`,
    rtt > 0 ? `${(p50 - floorMs).toFixed(1)}` : "",
  ];
}

function print(rows: string[][], options: DistanceBenchOptions): void {
  console.log(
    `Distance: one request at a time, ${options.requests} per scenario after 2 warm-up requests, the data services at ${options.rttsMs.join(" and ")} ms RTT (stack/distance.ts).\n` +
      "pg / redis / s3: round trips per request one after the other (median; ≤ the most); DO: Durable Object calls (Server-Timing; ? when not sent);\n" +
      "floor: the round trips the request cannot avoid, × RTT; over floor: p50 − floor ms.\n",
  );
  const header = ["scenario", "RTT ms", "p50 ms", "p95 ms", "pg", "redis", "s3", "DO", "floor", "over floor"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ");
  console.log(line(header));
  for (const r of rows) console.log(line(r));
  console.log("\nfloors:");
  for (const scenario of scenarios("", { token: "", refreshToken: "" }, "")) {
    const trips =
      DATA_SERVICES.filter((s) => scenario.floor.trips[s])
        .map((s) => `${scenario.floor.trips[s]} ${s}`)
        .join(" + ") || "0";
    console.log(`  ${scenario.name}: ${trips} — ${scenario.floor.reason}`);
  }
}
