/**
 * Distance to the data region, simulated and measured by the stack's own proxies.
 *
 * In production the API runs in every Cloudflare location while Postgres, Redis and S3 live in one
 * region: each request/response exchange with them costs a network round trip. The stack's proxies
 * (Neon WebSocket relay and `/sql`, the Upstash endpoint, the S3 proxy) share one meter: they delay
 * each exchange by the round-trip time (half on the way in, half on the way out) and count it, so a
 * benchmark can print how many round trips an API request made to each service, and how many of
 * them it waited through one after the other.
 */

import http from "node:http";

/** The data services a request can reach in the data region. */
export type DataService = "postgres" | "redis" | "s3";

export const DATA_SERVICES: readonly DataService[] = ["postgres", "redis", "s3"];

/** Round trips to one service since the last reset. */
export interface RoundTripCount {
  /** Every request/response exchange. */
  roundTrips: number;
  /**
   * Exchanges that began while no other exchange with the same service was in flight: the chain a
   * single request waited through one after the other (parallel exchanges count once).
   */
  sequential: number;
}

export interface RoundTripMeter {
  /** The simulated round-trip time in ms (0: no delay). Setting it applies to exchanges that start afterwards. */
  rttMs: number;
  /**
   * A round trip to `service` starts now. Call the returned function once, when its answer has been
   * sent; calling it again does nothing.
   */
  begin(service: DataService): () => void;
  /** Waits rttMs / 2 (one direction of the link); resolves at once when rttMs is 0. */
  halfTrip(): Promise<void>;
  /**
   * The counts since the last reset; round trips begun before it neither count nor make later ones
   * parallel. With `until` (ms since the epoch, as `Date.now()`), only the round trips that ended
   * (their answer sent) at or before it: what a request waited for before its answer arrived,
   * without work it left running after answering (`waitUntil`), which begins as the handler returns
   * but ends a round trip later. At an RTT of 0 such work may end before the answer arrives and be
   * counted. Then `sequential` is judged among those counted round trips only, so a round trip of
   * another client still in flight at `until` cannot make the counted ones parallel.
   */
  snapshot(until?: number): Record<DataService, RoundTripCount>;
  /** Zeroes the counts (exchanges in flight still end normally). */
  reset(): void;
}

/**
 * One meter per stack, shared by all its proxies.
 * @param rttMs round-trip time in ms, a finite number ≥ 0 (throws RangeError otherwise).
 */
export function createRoundTripMeter(rttMs: number): RoundTripMeter {
  let rtt = checkedRtt(rttMs);
  let counts = emptyCounts();
  // Round trips in flight that began since the last reset, and which reset that was.
  let inFlight: Record<DataService, number> = { postgres: 0, redis: 0, s3: 0 };
  let epoch = 0;
  // Each round trip since the reset, for `snapshot(until)`: when it began and ended on the monotonic
  // clock (sub-ms, to tell overlaps apart) and when it ended on the wall clock that `until` is given in.
  // Bounded, as a stack runs for hours.
  let log: { service: DataService; startedAt: number; endedAt?: number; endedAtWall?: number }[] = [];

  return {
    get rttMs() {
      return rtt;
    },
    set rttMs(value: number) {
      rtt = checkedRtt(value);
    },
    begin(service) {
      counts[service].roundTrips += 1;
      if (inFlight[service] === 0) counts[service].sequential += 1;
      inFlight[service] += 1;
      const begunIn = epoch;
      const entry: (typeof log)[number] = { service, startedAt: performance.now() };
      if (log.length < MAX_LOGGED) log.push(entry);
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        entry.endedAt = performance.now();
        entry.endedAtWall = Date.now();
        if (begunIn === epoch) inFlight[service] -= 1;
      };
    },
    halfTrip() {
      const half = rtt / 2;
      if (half <= 0) return Promise.resolve();
      return new Promise((resolve) => setTimeout(resolve, half));
    },
    snapshot(until) {
      if (until === undefined) {
        return { postgres: { ...counts.postgres }, redis: { ...counts.redis }, s3: { ...counts.s3 } };
      }
      const upTo = emptyCounts();
      for (const service of DATA_SERVICES) {
        const ended = log
          .filter((entry) => entry.service === service && entry.endedAtWall !== undefined && entry.endedAtWall <= until)
          .sort((a, b) => a.startedAt - b.startedAt);
        // A round trip is sequential when every counted one begun before it had ended by its start.
        let lastEnd = Number.NEGATIVE_INFINITY;
        for (const entry of ended) {
          upTo[service].roundTrips += 1;
          if (entry.startedAt > lastEnd) upTo[service].sequential += 1;
          lastEnd = Math.max(lastEnd, entry.endedAt as number);
        }
      }
      return upTo;
    },
    reset() {
      counts = emptyCounts();
      inFlight = { postgres: 0, redis: 0, s3: 0 };
      epoch += 1;
      log = [];
    },
  };
}

const MAX_LOGGED = 100_000;

function emptyCounts(): Record<DataService, RoundTripCount> {
  return {
    postgres: { roundTrips: 0, sequential: 0 },
    redis: { roundTrips: 0, sequential: 0 },
    s3: { roundTrips: 0, sequential: 0 },
  };
}

function checkedRtt(value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`round-trip time must be ≥ 0 ms, got ${value}`);
  return value;
}

/**
 * Reads STACK_RTT_MS: unset or empty is 0 (off).
 * @throws Error naming the variable when it is not a non-negative number of ms.
 */
export function rttFromEnv(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return 0;
  const rtt = Number(value);
  if (!Number.isFinite(rtt) || rtt < 0) {
    throw new Error(`STACK_RTT_MS must be a round-trip time in ms (≥ 0), got ${JSON.stringify(value)}`);
  }
  return rtt;
}

export interface RoundTripServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The meter over HTTP on loopback, for the benchmark and the tests (they run outside the stack's
 * process):
 * - `GET /round-trips`: `{ "rttMs": number, "postgres": RoundTripCount, "redis": …, "s3": … }`;
 *   `?until=<ms since the epoch>` counts only the round trips that ended by then;
 * - `POST /round-trips/reset`: zeroes the counts (204);
 * - `PUT /round-trips/rtt` with `{ "rttMs": number }`: changes the round-trip time (204; 400 when
 *   it is not a number ≥ 0).
 */
export async function startRoundTripServer(meter: RoundTripMeter, port: number): Promise<RoundTripServer> {
  const server = http.createServer((req, res) => {
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    const url = new URL(req.url ?? "/", "http://meter");
    const path = url.pathname;
    if (path === "/round-trips" && req.method === "GET") {
      const until = url.searchParams.get("until");
      if (until !== null && !Number.isFinite(Number(until))) {
        json(400, { error: "until must be a time in ms since the epoch" });
        return;
      }
      json(200, { rttMs: meter.rttMs, ...meter.snapshot(until === null ? undefined : Number(until)) });
    } else if (path === "/round-trips/reset" && req.method === "POST") {
      meter.reset();
      res.writeHead(204).end();
    } else if (path === "/round-trips/rtt" && req.method === "PUT") {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        try {
          const { rttMs } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { rttMs?: unknown };
          if (typeof rttMs !== "number") throw new RangeError("rttMs must be a number");
          meter.rttMs = rttMs;
          res.writeHead(204).end();
        } catch (error) {
          json(400, { error: error instanceof Error ? error.message : String(error) });
        }
      });
    } else {
      json(404, { error: "GET /round-trips, POST /round-trips/reset or PUT /round-trips/rtt" });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
