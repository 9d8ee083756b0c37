import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Redis } from "@upstash/redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRoundTripMeter, startRoundTripServer } from "../../stack/distance.ts";
import { freePort } from "../../stack/ports.ts";
import { findRedisServer, REDIS_INSTALL_HINT, type RedisServer, startRedis } from "../../stack/redis.ts";
import { type S3Server, startS3 } from "../../stack/s3.ts";
import { startUpstashRest, type UpstashRest } from "../../stack/upstash-rest.ts";

// The stack's own proxies, each with a meter of its own, driven by the unmodified production
// clients: every exchange is one round trip to its service, delayed by the round-trip time.
const meter = createRoundTripMeter(0);
let root = "";
let redis: RedisServer;
let upstash: UpstashRest;
let s3: S3Server;
const BUCKET = "distance-test";

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "distance-proxies-"));
  const binary = findRedisServer();
  if (!binary) throw new Error(REDIS_INSTALL_HINT);
  redis = await startRedis(binary, { port: await freePort(), dataDir: path.join(root, "redis"), persistent: false });
  upstash = await startUpstashRest({
    port: await freePort(),
    token: "token",
    redis: { host: "127.0.0.1", port: redis.port },
    meter,
  });
  s3 = await startS3({ port: await freePort(), directory: path.join(root, "s3"), buckets: [BUCKET], meter });
});

afterAll(async () => {
  await upstash?.close();
  await redis?.stop();
  await s3?.close();
  await rm(root, { recursive: true, force: true });
});

const redisClient = () => new Redis({ url: upstash.url, token: "token", automaticDeserialization: false });
const s3Client = () =>
  new S3Client({
    region: "us-east-1",
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });

async function elapsed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

describe("the Upstash endpoint at a distance", () => {
  it("counts one round trip per HTTP request: a command, a pipeline, a transaction", async () => {
    meter.rttMs = 0;
    meter.reset();
    const client = redisClient();
    await client.set("k", "v");
    const pipeline = client.pipeline();
    pipeline.get("k");
    pipeline.incr("n");
    pipeline.incr("n");
    expect(await pipeline.exec()).toEqual(["v", 1, 2]);
    const transaction = client.multi();
    transaction.incr("n");
    transaction.get("n");
    expect(await transaction.exec()).toEqual([3, "3"]);
    expect(meter.snapshot().redis).toEqual({ roundTrips: 3, sequential: 3 });
  });

  it("counts parallel requests once as sequential", async () => {
    meter.rttMs = 20;
    meter.reset();
    // Without auto-pipelining, which would send the three as one pipeline.
    const client = new Redis({ url: upstash.url, token: "token", enableAutoPipelining: false });
    await Promise.all([client.get("k"), client.get("k"), client.get("k")]);
    expect(meter.snapshot().redis).toEqual({ roundTrips: 3, sequential: 1 });
  });

  it("delays each request by the round-trip time, errors included", async () => {
    meter.rttMs = 300;
    const client = redisClient();
    // Lower bounds only: a timer never fires early, however loaded the machine.
    expect(await elapsed(() => client.get("k"))).toBeGreaterThanOrEqual(299);
    expect(
      await elapsed(() => client.eval("return redis.call('nope')", [], []).catch(() => {})),
    ).toBeGreaterThanOrEqual(299);
    meter.rttMs = 0;
  });
});

describe("the S3 proxy at a distance", () => {
  it("passes signed requests and streamed bodies through, one round trip each", async () => {
    meter.rttMs = 0;
    meter.reset();
    const client = s3Client();
    const body = Buffer.alloc(3 * 1024 * 1024, 7);
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: "big", Body: Readable.from([body]), ContentLength: body.length }),
    );
    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "big" }));
    const bytes = Buffer.from((await got.Body?.transformToByteArray()) ?? []);
    expect(bytes.equals(body)).toBe(true);
    expect(meter.snapshot().s3).toEqual({ roundTrips: 2, sequential: 2 });
  });

  it("delays each request by the round-trip time", async () => {
    meter.rttMs = 300;
    const client = s3Client();
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "small", Body: "x" }));
    expect(
      await elapsed(() =>
        client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "small" })).then((r) => r.Body?.transformToString()),
      ),
    ).toBeGreaterThanOrEqual(299);
    meter.rttMs = 0;
  });

  it("with s3rver stopped, the client sees a network failure, not an HTTP answer", async () => {
    const client = s3Client();
    await s3.stop();
    try {
      const error = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "small" })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBeUndefined();
    } finally {
      await s3.start();
    }
    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "small" }));
    expect(await got.Body?.transformToString()).toBe("x");
  });
});

describe("the meter over HTTP", () => {
  it("reads, resets and sets the round-trip time; refuses a bad one", async () => {
    const own = createRoundTripMeter(0);
    const server = await startRoundTripServer(own, await freePort());
    try {
      own.begin("postgres")();
      expect(await (await fetch(`${server.url}/round-trips`)).json()).toEqual({
        rttMs: 0,
        postgres: { roundTrips: 1, sequential: 1 },
        redis: { roundTrips: 0, sequential: 0 },
        s3: { roundTrips: 0, sequential: 0 },
      });
      expect((await fetch(`${server.url}/round-trips/reset`, { method: "POST" })).status).toBe(204);
      expect(own.snapshot().postgres.roundTrips).toBe(0);
      const put = (body: unknown) =>
        fetch(`${server.url}/round-trips/rtt`, { method: "PUT", body: JSON.stringify(body) }).then((r) => r.status);
      expect(await put({ rttMs: 50 })).toBe(204);
      expect(own.rttMs).toBe(50);
      expect(await put({ rttMs: -1 })).toBe(400);
      expect(await put({ rttMs: "50" })).toBe(400);
      expect(own.rttMs).toBe(50);
    } finally {
      await server.close();
    }
  });
});
