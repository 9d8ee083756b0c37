import { Redis } from "@upstash/redis/cloudflare";
import { describe, expect, it } from "vitest";
import { eventually, testEnv } from "../helpers.ts";

// The production client, unmodified, against stack/upstash-rest.ts in front of a real redis-server.
const url = testEnv.UPSTASH_REDIS_REST_URL;
const token = testEnv.UPSTASH_REDIS_REST_TOKEN;
const redis = new Redis({ url, token, enableTelemetry: false });
const key = (name: string) => `upstash-test:${crypto.randomUUID()}:${name}`;

const raw = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify(body),
  });

describe("Upstash REST endpoint with @upstash/redis", () => {
  it("stores strings, including non-ASCII text, and numbers", async () => {
    const k = key("s");
    expect(await redis.set(k, "héllo ✓ 世界")).toBe("OK");
    expect(await redis.get(k)).toBe("héllo ✓ 世界");
    expect(await redis.set(`${k}:n`, 41)).toBe("OK");
    expect(await redis.incr(`${k}:n`)).toBe(42);
    expect(await redis.mget(k, `${k}:n`, `${k}:missing`)).toEqual(["héllo ✓ 世界", 42, null]);
  });

  it("round-trips objects through the client's JSON serialisation", async () => {
    const k = key("json");
    await redis.set(k, { name: "Ada", tags: ["a", "b"], nested: { ok: true } });
    expect(await redis.get(k)).toEqual({ name: "Ada", tags: ["a", "b"], nested: { ok: true } });
  });

  it("handles hashes", async () => {
    const k = key("h");
    expect(await redis.hset(k, { a: "1", b: "two" })).toBe(2);
    expect(await redis.hget(k, "b")).toBe("two");
    expect(await redis.hgetall(k)).toEqual({ a: 1, b: "two" });
    expect(await redis.hincrby(k, "a", 5)).toBe(6);
  });

  it("handles sets", async () => {
    const k = key("set");
    expect(await redis.sadd(k, "x", "y", "z", "x")).toBe(3);
    expect((await redis.smembers(k)).sort()).toEqual(["x", "y", "z"]);
    expect(await redis.sismember(k, "y")).toBe(1);
    expect(await redis.scard(k)).toBe(3);
  });

  it("handles sorted sets with scores", async () => {
    const k = key("z");
    await redis.zadd(k, { score: 3, member: "c" }, { score: 1, member: "a" }, { score: 2, member: "b" });
    expect(await redis.zrange(k, 0, -1)).toEqual(["a", "b", "c"]);
    expect(await redis.zrange(k, 0, -1, { withScores: true, rev: true })).toEqual(["c", 3, "b", 2, "a", 1]);
    expect(await redis.zincrby(k, 10, "a")).toBe(11);
    expect(await redis.zscore(k, "a")).toBe(11);
  });

  it("expires keys", async () => {
    const k = key("ttl");
    await redis.set(k, "soon gone", { ex: 100 });
    const ttl = await redis.ttl(k);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(100);
    await redis.pexpire(k, 1);
    await eventually(async () => ((await redis.get(k)) === null ? true : undefined));
    expect(await redis.exists(k)).toBe(0);
  });

  it("runs a pipeline, reporting each command's own result", async () => {
    const k = key("p");
    const results = await redis.pipeline().set(k, "1").incr(k).get(k).exec();
    expect(results).toEqual(["OK", 2, 2]);
    const withErrors = await redis.pipeline().set(k, "text").incr(k).get(k).exec({ keepErrors: true });
    expect(withErrors[0]).toEqual({ result: "OK", error: undefined });
    expect(withErrors[1]?.error).toMatch(/not an integer/);
    expect(withErrors[2]?.result).toBe("text");
  });

  it("runs a transaction atomically with multi", async () => {
    const k = key("m");
    const results = await redis.multi().set(k, "5").incrby(k, 10).get(k).exec();
    expect(results).toEqual(["OK", 15, 15]);
  });

  it("aborts a transaction with a command refused while queueing, changing nothing", async () => {
    const k = key("abort");
    const res = await raw("/multi-exec", [
      ["set", k, "x"],
      ["nosuchcommand", k],
    ]);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/unknown command/);
    expect(await redis.exists(k)).toBe(0);
  });

  it("runs Lua scripts with eval and evalsha (falling back from NOSCRIPT)", async () => {
    const k = key("lua");
    expect(await redis.eval("return redis.call('SET', KEYS[1], ARGV[1])", [k], ["from lua"])).toBe("OK");
    expect(await redis.eval("return redis.call('GET', KEYS[1])", [k], [])).toBe("from lua");
    // A script the server has never seen: evalsha answers NOSCRIPT and the client falls back to eval.
    const script = redis.createScript<number>(
      `-- ${crypto.randomUUID()}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])`,
    );
    expect(await script.exec([`${k}:n`], ["7"])).toBe(7);
  });

  it("reports Redis errors as client errors", async () => {
    const k = key("wrong");
    await redis.sadd(k, "member");
    await expect(redis.get(k)).rejects.toThrow(/WRONGTYPE/);
  });

  it("refuses a missing or wrong token with 401", async () => {
    const wrong = new Redis({ url, token: "not-the-token", enableTelemetry: false, retry: false });
    await expect(wrong.get("anything")).rejects.toThrow(/Unauthorized/);
    const res = await fetch(url, { method: "POST", body: JSON.stringify(["ping"]) });
    expect(res.status).toBe(401);
  });

  it("base64-encodes strings only when asked, keeping OK plain", async () => {
    const k = key("b64");
    expect(await (await raw("/", ["set", k, "plain"], { "upstash-encoding": "base64" })).json()).toEqual({
      result: "OK",
    });
    expect(await (await raw("/", ["get", k], { "upstash-encoding": "base64" })).json()).toEqual({
      result: btoa("plain"),
    });
    expect(await (await raw("/", ["get", k])).json()).toEqual({ result: "plain" });
  });

  it("accepts path-style commands", async () => {
    const k = key("path");
    await redis.set(k, "via path");
    const res = await fetch(`${url}/get/${encodeURIComponent(k)}`, { headers: { authorization: `Bearer ${token}` } });
    expect(await res.json()).toEqual({ result: "via path" });
  });

  it("refuses commands that would hold or change a pooled connection", async () => {
    const res = await raw("/", ["select", "2"]);
    expect(res.status).toBe(400);
  });

  it("answers a malformed body with 400", async () => {
    const res = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "{not json" });
    expect(res.status).toBe(400);
  });
});
