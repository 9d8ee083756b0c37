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
  snapshot(): Record<DataService, RoundTripCount>;
  /** Zeroes the counts (exchanges in flight still end normally). */
  reset(): void;
}

/**
 * One meter per stack, shared by all its proxies.
 * @param rttMs round-trip time in ms, a finite number ≥ 0 (throws RangeError otherwise).
 */
export function createRoundTripMeter(rttMs: number): RoundTripMeter {
  let rtt = checkedRtt(rttMs);
  const counts = emptyCounts();
  const inFlight: Record<DataService, number> = { postgres: 0, redis: 0, s3: 0 };

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
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        inFlight[service] -= 1;
      };
    },
    halfTrip() {
      const half = rtt / 2;
      if (half <= 0) return Promise.resolve();
      return new Promise((resolve) => setTimeout(resolve, half));
    },
    snapshot() {
      return {
        postgres: { ...counts.postgres },
        redis: { ...counts.redis },
        s3: { ...counts.s3 },
      };
    },
    reset() {
      for (const service of DATA_SERVICES) counts[service] = { roundTrips: 0, sequential: 0 };
    },
  };
}

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
