import { describe, expect, it } from "vitest";
import { createRoundTripMeter, rttFromEnv } from "../../stack/distance.ts";

describe("round-trip meter", () => {
  it("counts every round trip and, as sequential, only those that began with none in flight", () => {
    const meter = createRoundTripMeter(0);
    const first = meter.begin("postgres");
    const parallel = meter.begin("postgres");
    first();
    parallel();
    meter.begin("postgres")();
    meter.begin("redis")();
    expect(meter.snapshot()).toEqual({
      postgres: { roundTrips: 3, sequential: 2 },
      redis: { roundTrips: 1, sequential: 1 },
      s3: { roundTrips: 0, sequential: 0 },
    });
  });

  it("keeps services apart: a round trip in flight to one does not make another's parallel", () => {
    const meter = createRoundTripMeter(0);
    const s3 = meter.begin("s3");
    meter.begin("postgres")();
    s3();
    expect(meter.snapshot().postgres).toEqual({ roundTrips: 1, sequential: 1 });
  });

  it("ends a round trip once however often its end is called", () => {
    const meter = createRoundTripMeter(0);
    const end = meter.begin("redis");
    end();
    end();
    const open = meter.begin("redis");
    meter.begin("redis")();
    open();
    expect(meter.snapshot().redis).toEqual({ roundTrips: 3, sequential: 2 });
  });

  it("reset zeroes the counts; a snapshot is a copy", () => {
    const meter = createRoundTripMeter(0);
    meter.begin("s3")();
    const before = meter.snapshot();
    meter.reset();
    expect(before.s3.roundTrips).toBe(1);
    expect(meter.snapshot().s3).toEqual({ roundTrips: 0, sequential: 0 });
  });

  it("snapshot(until) counts only the round trips that ended by then (not work still in flight)", async () => {
    const meter = createRoundTripMeter(0);
    meter.begin("postgres")();
    // Begun before the answer, ended after it: what a request leaves to waitUntil.
    const leftRunning = meter.begin("postgres");
    const answered = Date.now() + 1;
    await new Promise((resolve) => setTimeout(resolve, 5));
    leftRunning();
    meter.begin("redis")();
    expect(meter.snapshot(answered)).toEqual({
      postgres: { roundTrips: 1, sequential: 1 },
      redis: { roundTrips: 0, sequential: 0 },
      s3: { roundTrips: 0, sequential: 0 },
    });
    expect(meter.snapshot().postgres).toEqual({ roundTrips: 2, sequential: 2 });
    const inFlight = meter.begin("s3");
    expect(meter.snapshot(Date.now() + 1).s3.roundTrips).toBe(0);
    inFlight();
    meter.reset();
    expect(meter.snapshot(Date.now()).postgres).toEqual({ roundTrips: 0, sequential: 0 });
  });

  it("a round trip begun before a reset neither counts nor makes the ones after it parallel", () => {
    const meter = createRoundTripMeter(0);
    const another = meter.begin("postgres");
    meter.reset();
    meter.begin("postgres")();
    another();
    meter.begin("postgres")();
    expect(meter.snapshot().postgres).toEqual({ roundTrips: 2, sequential: 2 });
  });

  it("snapshot(until) judges sequential among the counted round trips: one still in flight then does not overlap them", async () => {
    const meter = createRoundTripMeter(0);
    // Another client's round trip, begun first and still running when the request is answered.
    const another = meter.begin("postgres");
    meter.begin("postgres")();
    await new Promise((resolve) => setTimeout(resolve, 2));
    const overlapping = meter.begin("postgres");
    const inner = meter.begin("postgres");
    inner();
    overlapping();
    const answered = Date.now() + 1;
    await new Promise((resolve) => setTimeout(resolve, 5));
    another();
    expect(meter.snapshot(answered).postgres).toEqual({ roundTrips: 3, sequential: 2 });
    expect(meter.snapshot().postgres).toEqual({ roundTrips: 4, sequential: 1 });
  });

  it("halfTrip waits half the round-trip time, and not at all at 0", async () => {
    const meter = createRoundTripMeter(0);
    let settled = false;
    const immediate = meter.halfTrip().then(() => {
      settled = true;
    });
    await Promise.resolve();
    expect(settled).toBe(true);
    await immediate;

    meter.rttMs = 40;
    expect(meter.rttMs).toBe(40);
    const started = performance.now();
    await meter.halfTrip();
    // A lower bound only (timers never fire early); how long it takes beyond is the machine's business.
    expect(performance.now() - started).toBeGreaterThanOrEqual(19);
  });

  it("refuses a negative or non-finite round-trip time", () => {
    expect(() => createRoundTripMeter(-1)).toThrow(RangeError);
    const meter = createRoundTripMeter(0);
    expect(() => {
      meter.rttMs = Number.NaN;
    }).toThrow(RangeError);
  });

  it("reads STACK_RTT_MS: unset is off, a number is ms, anything else is refused", () => {
    expect(rttFromEnv(undefined)).toBe(0);
    expect(rttFromEnv("")).toBe(0);
    expect(rttFromEnv("50")).toBe(50);
    expect(() => rttFromEnv("50ms")).toThrow(/STACK_RTT_MS/);
    expect(() => rttFromEnv("-5")).toThrow(/STACK_RTT_MS/);
  });
});
