import { Client, neon, neonConfig } from "@neondatabase/serverless";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from "vitest";
import ws from "ws";
import { createRoundTripMeter, type RoundTripMeter } from "../../stack/distance.ts";
import { createDelayLine, type NeonProxy, startNeonProxy } from "../../stack/neon-proxy.ts";
import { freePort } from "../../stack/ports.ts";

describe("the relay's delay line", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("delivers each message one delay after it was sent, in order, without adding up delays", () => {
    vi.useFakeTimers();
    const delivered: [string, number][] = [];
    const line = createDelayLine(() => 10);
    const start = performance.now();
    const at = (name: string) => () => delivered.push([name, performance.now() - start]);
    line.send(at("a"));
    line.send(at("b"));
    vi.advanceTimersByTime(4);
    line.send(at("c"));
    vi.advanceTimersByTime(5);
    expect(delivered).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(delivered).toEqual([
      ["a", 10],
      ["b", 10],
    ]);
    vi.advanceTimersByTime(4);
    expect(delivered.map(([name]) => name)).toEqual(["a", "b", "c"]);
    expect(delivered[2]?.[1]).toBe(14);
  });

  it("never lets a message overtake one sent before it when the delay shrinks", () => {
    vi.useFakeTimers();
    let delay = 50;
    const delivered: string[] = [];
    const line = createDelayLine(() => delay);
    line.send(() => delivered.push("slow"));
    delay = 0;
    line.send(() => delivered.push("fast"));
    expect(delivered).toEqual([]);
    vi.advanceTimersByTime(50);
    expect(delivered).toEqual(["slow", "fast"]);
    line.send(() => delivered.push("now"));
    expect(delivered).toEqual(["slow", "fast", "now"]);
  });

  it("runs at once without a delay, and drops what is queued when cleared", () => {
    vi.useFakeTimers();
    const delivered: string[] = [];
    const line = createDelayLine(() => 0);
    line.send(() => delivered.push("direct"));
    expect(delivered).toEqual(["direct"]);
    const slow = createDelayLine(() => 5);
    slow.send(() => delivered.push("dropped"));
    slow.clear();
    vi.advanceTimersByTime(10);
    expect(delivered).toEqual(["direct"]);
  });
});

// The unmodified driver in Node, over the relay and /sql, against the test stack's Postgres.
describe("round trips through the Neon proxy", () => {
  const url = inject("stack").DATABASE_URL ?? "";
  let proxy: NeonProxy;
  let meter: RoundTripMeter;

  beforeAll(async () => {
    meter = createRoundTripMeter(0);
    proxy = await startNeonProxy({ port: await freePort(), meter });
    proxy.allow(Number(new URL(url).port));
    neonConfig.webSocketConstructor = ws;
    neonConfig.wsProxy = (host, port) => `${proxy.address}/v2?address=${host}:${port}`;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineConnect = false;
    neonConfig.fetchEndpoint = `http://${proxy.address}/sql`;
  });
  afterAll(async () => {
    await proxy.close();
  });

  const postgres = () => meter.snapshot().postgres;

  async function sessionRoundTrips(rttMs: number): Promise<{ connect: number; query: number; end: number }> {
    meter.rttMs = rttMs;
    meter.reset();
    const client = new Client(url);
    await client.connect();
    const connect = postgres().roundTrips;
    const { rows } = await client.query("select $1::int + 1 as n", [41]);
    expect(rows).toEqual([{ n: 42 }]);
    const query = postgres().roundTrips - connect;
    await client.end();
    return { connect, query, end: postgres().roundTrips - connect - query };
  }

  it("counts a WebSocket session: upgrade, startup, two SCRAM steps, then one per query; Terminate is free", async () => {
    expect(await sessionRoundTrips(0)).toEqual({ connect: 4, query: 1, end: 0 });
    // Nothing ran in parallel: every round trip was waited for in turn.
    expect(postgres().sequential).toBe(postgres().roundTrips);
  });

  it("relays the same exchanges, intact and in order, at a distance", async () => {
    expect(await sessionRoundTrips(20)).toEqual({ connect: 4, query: 1, end: 0 });
    meter.rttMs = 0;
  });

  it("counts one round trip per /sql request, a batch included", async () => {
    meter.rttMs = 0;
    meter.reset();
    const sql = neon(url);
    expect(await sql`select 1 as one`).toEqual([{ one: 1 }]);
    expect(postgres()).toEqual({ roundTrips: 1, sequential: 1 });
    await sql.transaction([sql`select 1`, sql`select 2`, sql`select 3`]);
    expect(postgres()).toEqual({ roundTrips: 2, sequential: 2 });
  });

  it("answers /sql at a distance too", async () => {
    meter.rttMs = 20;
    meter.reset();
    const sql = neon(url);
    expect(await sql`select ${"far"}::text as v`).toEqual([{ v: "far" }]);
    expect(postgres()).toEqual({ roundTrips: 1, sequential: 1 });
    meter.rttMs = 0;
  });

  it("refuses a Postgres the stack did not allow, before counting anything", async () => {
    meter.reset();
    const status = await new Promise<number | undefined>((resolve) => {
      const socket = new ws(`ws://${proxy.address}/v2?address=127.0.0.1:1`);
      socket.on("unexpected-response", (_req, res) => resolve(res.statusCode));
      socket.on("open", () => resolve(101));
      socket.on("error", () => resolve(undefined));
    });
    expect(status).toBe(403);
    expect(postgres()).toEqual({ roundTrips: 0, sequential: 0 });
  });

  // Here rather than in workerd, which opens at most 6 connections at once per request.
  it("runs a burst of /sql requests on at most 20 pooled backends, every request answered", async () => {
    const sql = neon(url);
    const pids = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const [row] = await sql`select pg_backend_pid() as pid, pg_sleep(0.5)`;
        return row?.pid as number;
      }),
    );
    expect(pids.every((pid) => typeof pid === "number")).toBe(true);
    expect(new Set(pids).size).toBeLessThanOrEqual(20);
  });

  it("stops delaying and counting when the meter is taken away", async () => {
    meter.reset();
    proxy.setMeter(undefined);
    const client = new Client(url);
    await client.connect();
    await client.query("select 1");
    await client.end();
    await neon(url)`select 1`;
    expect(postgres()).toEqual({ roundTrips: 0, sequential: 0 });
    proxy.setMeter(meter);
  });
});
