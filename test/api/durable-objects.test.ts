import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RateLimiter } from "../../src/durable-objects/rate-limiter.ts";
import type { Sessions } from "../../src/durable-objects/sessions.ts";

const limiter = (name = crypto.randomUUID()) => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(name));
const sessions = (user = crypto.randomUUID()) => env.SESSIONS.get(env.SESSIONS.idFromName(user));

describe("RateLimiter", () => {
  it("admits exactly the limit when 200 requests arrive at once against a limit of 100", async () => {
    const stub = limiter();
    const decisions = await Promise.all(
      Array.from({ length: 200 }, () => stub.hit([{ limit: 100, windowMs: 60_000 }])),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(100);
    expect(decisions.filter((d) => !d.allowed).every((d) => d.retryAfterMs > 0)).toBe(true);
  });

  it("slides: a slot frees exactly when the oldest hit leaves the window", async () => {
    const stub = limiter();
    const window = [{ limit: 2, windowMs: 1_000 }];
    expect((await stub.hit(window, 10_000)).allowed).toBe(true);
    expect((await stub.hit(window, 10_500)).allowed).toBe(true);
    const refused = await stub.hit(window, 10_600);
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 400 });
    expect((await stub.hit(window, 10_999)).allowed).toBe(false);
    expect((await stub.hit(window, 11_000)).allowed).toBe(true);
    expect((await stub.hit(window, 11_001)).allowed).toBe(false);
  });

  it("checks several windows at once (burst and sustained)", async () => {
    const stub = limiter();
    const policy = [
      { limit: 2, windowMs: 1_000 },
      { limit: 3, windowMs: 60_000 },
    ];
    expect((await stub.hit(policy, 0)).allowed).toBe(true);
    expect((await stub.hit(policy, 1)).allowed).toBe(true);
    const burst = await stub.hit(policy, 2);
    expect(burst.allowed).toBe(false);
    expect(burst.retryAfterMs).toBe(998);
    expect((await stub.hit(policy, 1_500)).allowed).toBe(true);
    const sustained = await stub.hit(policy, 2_400);
    expect(sustained.allowed).toBe(false);
    expect(sustained.retryAfterMs).toBe(60_000 - 2_400);
    expect(sustained.windows.map((w) => w.remaining)).toEqual([1, 0]);
  });

  it("keeps keys apart: one object per key", async () => {
    const a = limiter("key-a");
    const b = limiter("key-b");
    await a.hit([{ limit: 1, windowMs: 60_000 }]);
    expect((await a.hit([{ limit: 1, windowMs: 60_000 }])).allowed).toBe(false);
    expect((await b.hit([{ limit: 1, windowMs: 60_000 }])).allowed).toBe(true);
  });

  it("schedules an alarm one window after the last hit, which clears the log", async () => {
    const stub = limiter();
    const window = [{ limit: 5, windowMs: 60_000 }];
    await stub.hit(window);
    await stub.hit(window);
    expect((await stub.peek(window))[0]?.remaining).toBe(3);
    await runInDurableObject(stub, async (_instance: RateLimiter, state) => {
      const [{ last } = { last: 0 }] = state.storage.sql
        .exec<{ last: number }>("select max(at) as last from hits")
        .toArray();
      expect(await state.storage.getAlarm()).toBe(last + 60_001);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, async (_instance: RateLimiter, state) => {
      expect(state.storage.sql.exec("select count(*) as n from hits").one()).toEqual({ n: 0 });
    });
    expect((await stub.peek(window))[0]?.remaining).toBe(5);
  });
});

describe("Sessions", () => {
  const lifetimes = { absoluteTtlMs: 10_000, idleTimeoutMs: 1_000 };

  it("creates, lists (most recent first), touches and revokes sessions", async () => {
    const stub = sessions();
    const first = await stub.create({ ...lifetimes, userAgent: "ua-1", ip: "192.0.2.1" }, 1_000);
    const second = await stub.create({ ...lifetimes, userAgent: "ua-2", ip: "192.0.2.2" }, 1_100);
    expect((await stub.list(1_200)).map((s) => s.id)).toEqual([second.id, first.id]);

    const touched = await stub.touch(first.id, 1_300);
    expect(touched).toMatchObject({ id: first.id, lastUsedAt: 1_300, userAgent: "ua-1", ip: "192.0.2.1" });
    expect((await stub.list(1_400)).map((s) => s.id)).toEqual([first.id, second.id]);

    expect(await stub.revoke(first.id)).toBe(true);
    expect(await stub.revoke(first.id)).toBe(false);
    expect(await stub.touch(first.id, 1_500)).toBeNull();
    expect(await stub.revokeAll()).toBe(1);
    expect(await stub.list(1_600)).toEqual([]);
  });

  it("ends a session left idle too long", async () => {
    const stub = sessions();
    const session = await stub.create(lifetimes, 0);
    expect(await stub.touch(session.id, 999)).not.toBeNull();
    expect(await stub.touch(session.id, 1_998)).not.toBeNull();
    expect(await stub.touch(session.id, 2_998)).toBeNull();
  });

  it("ends a session at its absolute lifetime however active", async () => {
    const stub = sessions();
    const session = await stub.create(lifetimes, 0);
    for (let t = 900; t < 10_000; t += 900) expect(await stub.touch(session.id, t)).not.toBeNull();
    expect(await stub.touch(session.id, 10_000)).toBeNull();
  });

  it("keeps users apart: one object per user", async () => {
    const mine = sessions("user-a");
    const theirs = sessions("user-b");
    const session = await mine.create(lifetimes);
    expect(await theirs.touch(session.id)).toBeNull();
    expect(await theirs.revoke(session.id)).toBe(false);
    expect(await mine.touch(session.id)).not.toBeNull();
  });

  it("purges expired sessions when its alarm fires", async () => {
    const stub = sessions();
    const longAgo = Date.now() - 60_000;
    await stub.create(lifetimes, longAgo);
    const live = await stub.create({ absoluteTtlMs: 3_600_000, idleTimeoutMs: 3_600_000 });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, async (_instance: Sessions, state) => {
      const rows = state.storage.sql.exec<{ id: string }>("select id from sessions").toArray();
      expect(rows.map((r) => r.id)).toEqual([live.id]);
      expect(await state.storage.getAlarm()).toBe(live.lastUsedAt + 3_600_000);
    });
  });
});
