import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  CLIENT_FREE_ATTEMPTS,
  FIRST_WAIT_MS,
  FORGET_AFTER_MS,
  FREE_ATTEMPTS,
  MAX_WAIT_MS,
} from "../../src/durable-objects/login-throttle.ts";
import { RateLimiter } from "../../src/durable-objects/rate-limiter.ts";
import { type Principal, REFRESH_REUSE_GRACE_MS, type Sessions } from "../../src/durable-objects/sessions.ts";

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
        .exec<{ last: number }>("select max(at) as last from rate_hits")
        .toArray();
      expect(await state.storage.getAlarm()).toBe(last + 60_001);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, async (_instance: RateLimiter, state) => {
      expect(state.storage.sql.exec("select count(*) as n from rate_hits").one()).toEqual({ n: 0 });
    });
    expect((await stub.peek(window))[0]?.remaining).toBe(5);
  });

  it("carries over the hits an object logged before the shared log", async () => {
    const stub = limiter();
    const now = Date.now();
    await runInDurableObject(stub, async (_instance: RateLimiter, state) => {
      state.storage.sql.exec("create table hits (at integer not null)");
      state.storage.sql.exec("insert into hits (at) values (?), (?)", now - 1_000, now - 500);
      // What a new deployment's constructor finds.
      new RateLimiter(state, env);
      expect(state.storage.sql.exec("select count(*) as n from sqlite_master where name = 'hits'").one()).toEqual({
        n: 0,
      });
    });
    expect((await stub.peek([{ limit: 5, windowMs: 60_000 }]))[0]?.remaining).toBe(3);
  });
});

describe("Sessions", () => {
  const principal: Principal = { role: "user", status: "active", permissions: [] };
  const lifetimes = { absoluteTtlMs: 10_000, idleTimeoutMs: 1_000, principal };

  it("creates, lists (most recent first), touches and revokes sessions", async () => {
    const stub = sessions();
    const { session: first } = await stub.create({ ...lifetimes, userAgent: "ua-1", ip: "192.0.2.1" }, 1_000);
    const { session: second } = await stub.create({ ...lifetimes, userAgent: "ua-2", ip: "192.0.2.2" }, 1_100);
    expect((await stub.list(1_200)).map((s) => s.id)).toEqual([second.id, first.id]);

    const touched = await stub.touch(first.id, 1_300);
    expect(touched?.session).toMatchObject({ id: first.id, lastUsedAt: 1_300, userAgent: "ua-1", ip: "192.0.2.1" });
    expect(touched?.principal).toEqual(principal);
    expect((await stub.list(1_400)).map((s) => s.id)).toEqual([first.id, second.id]);

    expect(await stub.revoke(first.id)).toBe(true);
    expect(await stub.revoke(first.id)).toBe(false);
    expect(await stub.touch(first.id, 1_500)).toBeNull();
    expect(await stub.revokeAll()).toBe(1);
    expect(await stub.list(1_600)).toEqual([]);
  });

  it("starts one session per one-time token, however many present it at once", async () => {
    const stub = sessions();
    const once = { jti: crypto.randomUUID(), expiresAt: Date.now() + 300_000 };
    const started = await Promise.all(Array.from({ length: 10 }, () => stub.createOnce(lifetimes, once)));
    expect(started.filter((s) => s !== null)).toHaveLength(1);
    expect(await stub.list()).toHaveLength(1);
    // Another token starts its own.
    expect(await stub.createOnce(lifetimes, { ...once, jti: crypto.randomUUID() })).not.toBeNull();
  });

  it("ends a session left idle too long", async () => {
    const stub = sessions();
    const { session } = await stub.create(lifetimes, 0);
    expect(await stub.touch(session.id, 999)).not.toBeNull();
    expect(await stub.touch(session.id, 1_998)).not.toBeNull();
    expect(await stub.touch(session.id, 2_998)).toBeNull();
  });

  it("ends a session at its absolute lifetime however active", async () => {
    const stub = sessions();
    const { session } = await stub.create(lifetimes, 0);
    for (let t = 900; t < 10_000; t += 900) expect(await stub.touch(session.id, t)).not.toBeNull();
    expect(await stub.touch(session.id, 10_000)).toBeNull();
  });

  it("keeps users apart: one object per user", async () => {
    const mine = sessions("user-a");
    const theirs = sessions("user-b");
    const { session } = await mine.create(lifetimes);
    expect(await theirs.touch(session.id)).toBeNull();
    expect(await theirs.revoke(session.id)).toBe(false);
    expect(await mine.touch(session.id)).not.toBeNull();
  });

  it("rotates refresh secrets, and a reused old one ends the session", async () => {
    const stub = sessions();
    const long = { ...lifetimes, absoluteTtlMs: 3_600_000, idleTimeoutMs: 3_600_000 };
    const { session, secret: first } = await stub.create(long, 0);
    const second = await stub.rotate(session.id, first, 1_000);
    expect(second.outcome).toBe("rotated");
    if (second.outcome !== "rotated") return;
    const third = await stub.rotate(session.id, second.secret, 2_000);
    expect(third.outcome).toBe("rotated");
    // `first` was rotated away two rotations ago: a reuse.
    expect(await stub.rotate(session.id, first, 3_000)).toEqual({ outcome: "reused" });
    expect(await stub.touch(session.id, 3_001)).toBeNull();
  });

  it("gives the same successor to the previous secret within the grace, then treats it as reuse", async () => {
    const stub = sessions();
    const long = { ...lifetimes, absoluteTtlMs: 3_600_000, idleTimeoutMs: 3_600_000 };
    const { session, secret } = await stub.create(long, 0);
    const [a, b] = await Promise.all([stub.rotate(session.id, secret, 1_000), stub.rotate(session.id, secret, 1_001)]);
    expect(a?.outcome).toBe("rotated");
    expect(b?.outcome).toBe("rotated");
    if (a?.outcome !== "rotated" || b?.outcome !== "rotated") return;
    expect(a.secret).toBe(b.secret);
    expect(await stub.rotate(session.id, secret, 1_000 + REFRESH_REUSE_GRACE_MS + 1)).toEqual({ outcome: "reused" });
  });

  it("refuses an unknown secret without ending the session", async () => {
    const stub = sessions();
    const { session } = await stub.create({ ...lifetimes, idleTimeoutMs: 3_600_000 }, 0);
    expect(await stub.rotate(session.id, "not-the-secret", 10)).toEqual({ outcome: "invalid" });
    expect(await stub.touch(session.id, 20)).not.toBeNull();
  });

  it("ends every session when the user is disabled", async () => {
    const stub = sessions();
    const { session } = await stub.create({ ...lifetimes, idleTimeoutMs: 3_600_000 }, 0);
    await stub.setPrincipal({ ...principal, status: "disabled" });
    expect(await stub.touch(session.id, 10)).toBeNull();
    expect(await stub.list(10)).toEqual([]);
  });

  it("serves the current principal to every session", async () => {
    const stub = sessions();
    const { session } = await stub.create({ ...lifetimes, idleTimeoutMs: 3_600_000 }, 0);
    await stub.setPrincipal({ role: "admin", status: "active", permissions: ["users:read"] });
    expect((await stub.touch(session.id, 10))?.principal).toEqual({
      role: "admin",
      status: "active",
      permissions: ["users:read"],
    });
  });

  it("checks the session and counts the request in one call, exactly under concurrency", async () => {
    const stub = sessions();
    const { session } = await stub.create({ ...lifetimes, idleTimeoutMs: 3_600_000 });
    const count = { key: "api", policy: [{ limit: 100, windowMs: 60_000 }] as const };
    const answers = await Promise.all(Array.from({ length: 200 }, () => stub.authorize(session.id, count)));
    expect(answers.every((a) => a?.principal.status === "active")).toBe(true);
    expect(answers.filter((a) => a?.decision?.allowed)).toHaveLength(100);
    expect(
      answers.filter((a) => a?.decision?.allowed === false).every((a) => (a?.decision?.retryAfterMs ?? 0) > 0),
    ).toBe(true);
    // Policies are counted apart; a call without a count counts nothing.
    expect(
      (await stub.authorize(session.id, { key: "sharing", policy: [{ limit: 1, windowMs: 60_000 }] }))?.decision,
    ).toMatchObject({ allowed: true });
    expect((await stub.authorize(session.id, null))?.decision).toBeNull();
    expect((await stub.peekRate(count))[0]?.remaining).toBe(0);
  });

  it("counts nothing for a session that has ended", async () => {
    const stub = sessions();
    const { session } = await stub.create(lifetimes, 0);
    const count = { key: "api", policy: [{ limit: 5, windowMs: 60_000 }] as const };
    expect((await stub.authorize(session.id, count, {}, 500))?.decision?.windows[0]?.remaining).toBe(4);
    expect(await stub.authorize(session.id, count, {}, 5_000)).toBeNull();
    expect((await stub.peekRate(count, 5_000))[0]?.remaining).toBe(4);
  });

  it("slides the user's windows as the RateLimiter does", async () => {
    const stub = sessions();
    const { session } = await stub.create({ ...lifetimes, idleTimeoutMs: 3_600_000 }, 0);
    const count = { key: "api", policy: [{ limit: 2, windowMs: 1_000 }] as const };
    expect((await stub.authorize(session.id, count, {}, 1_000))?.decision?.allowed).toBe(true);
    expect((await stub.authorize(session.id, count, {}, 1_500))?.decision?.allowed).toBe(true);
    expect((await stub.authorize(session.id, count, {}, 1_600))?.decision).toMatchObject({
      allowed: false,
      retryAfterMs: 400,
    });
    expect((await stub.authorize(session.id, count, {}, 2_000))?.decision?.allowed).toBe(true);
  });

  it("with no session left, its alarm clears the counted requests once no window holds them", async () => {
    const stub = sessions();
    const now = Date.now();
    const count = { key: "api", policy: [{ limit: 5, windowMs: 60_000 }] as const };
    // A session idle since 2 s ago, whose last request still counts for the next 58 s.
    const { session } = await stub.create(lifetimes, now - 2_500);
    await stub.authorize(session.id, count, {}, now - 2_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, async (_instance: Sessions, state) => {
      expect(state.storage.sql.exec("select count(*) as n from sessions").one()).toEqual({ n: 0 });
      expect(state.storage.sql.exec("select count(*) as n from rate_hits").one()).toEqual({ n: 1 });
      expect(await state.storage.getAlarm()).toBe(now - 2_000 + 60_000);
    });
    // Once no window holds it, the alarm drops it and schedules nothing more.
    await runInDurableObject(stub, async (_instance: Sessions, state) => {
      state.storage.sql.exec("update rate_hits set expires_at = ?", now - 1);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, async (_instance: Sessions, state) => {
      expect(state.storage.sql.exec("select count(*) as n from rate_hits").one()).toEqual({ n: 0 });
      expect(await state.storage.getAlarm()).toBeNull();
    });
  });

  it("purges expired sessions when its alarm fires", async () => {
    const stub = sessions();
    const longAgo = Date.now() - 60_000;
    await stub.create(lifetimes, longAgo);
    const { session: live } = await stub.create({ ...lifetimes, absoluteTtlMs: 3_600_000, idleTimeoutMs: 3_600_000 });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, async (_instance: Sessions, state) => {
      const rows = state.storage.sql.exec<{ id: string }>("select id from sessions").toArray();
      expect(rows.map((r) => r.id)).toEqual([live.id]);
      expect(await state.storage.getAlarm()).toBe(live.lastUsedAt + 3_600_000);
    });
  });
});

describe("LoginThrottle", () => {
  const throttle = () => env.LOGIN_THROTTLE.get(env.LOGIN_THROTTLE.idFromName(crypto.randomUUID()));

  it("allows the free attempts, then makes each further attempt wait twice as long", async () => {
    const stub = throttle();
    for (let i = 1; i <= FREE_ATTEMPTS; i++)
      expect(await stub.reserve({ now: 0 })).toEqual({ allowed: true, attempts: i });
    expect(await stub.reserve({ now: 0 })).toEqual({ allowed: false, waitMs: FIRST_WAIT_MS });
    expect(await stub.reserve({ now: FIRST_WAIT_MS })).toEqual({ allowed: true, attempts: FREE_ATTEMPTS + 1 });
    expect(await stub.reserve({ now: FIRST_WAIT_MS + 1 })).toEqual({ allowed: false, waitMs: FIRST_WAIT_MS * 2 - 1 });
    expect(await stub.reserve({ now: FIRST_WAIT_MS * 3 })).toEqual({ allowed: true, attempts: FREE_ATTEMPTS + 2 });
    expect(await stub.check({ now: FIRST_WAIT_MS * 4 })).toEqual({
      attempts: FREE_ATTEMPTS + 2,
      waitMs: FIRST_WAIT_MS * 3,
    });
  });

  it("counts a refused attempt nowhere", async () => {
    const stub = throttle();
    for (let i = 0; i < FREE_ATTEMPTS; i++) await stub.reserve({ now: 0 });
    for (let i = 0; i < 10; i++) expect((await stub.reserve({ now: 500 })).allowed).toBe(false);
    expect(await stub.check({ now: 500 })).toEqual({ attempts: FREE_ATTEMPTS, waitMs: FIRST_WAIT_MS - 500 });
  });

  it("of 30 attempts reserved at once, admits exactly the free ones", async () => {
    const stub = throttle();
    const all = await Promise.all(Array.from({ length: 30 }, () => stub.reserve()));
    expect(all.filter((r) => r.allowed)).toHaveLength(FREE_ATTEMPTS);
  });

  it("allows a client address more free attempts than an account", async () => {
    const stub = throttle();
    const freeAttempts = CLIENT_FREE_ATTEMPTS;
    for (let i = 1; i <= freeAttempts; i++) expect((await stub.reserve({ now: 0, freeAttempts })).allowed).toBe(true);
    expect(await stub.reserve({ now: 0, freeAttempts })).toEqual({ allowed: false, waitMs: FIRST_WAIT_MS });
  });

  it("caps the wait", async () => {
    const stub = throttle();
    for (let i = 0; i < 40; i++) await stub.fail({ now: 0 });
    expect((await stub.check({ now: 0 })).waitMs).toBe(MAX_WAIT_MS);
  });

  it("takes back a released attempt, and forgets all after a success or a quiet day", async () => {
    const stub = throttle();
    for (let i = 0; i < FREE_ATTEMPTS; i++) await stub.reserve({ now: 0 });
    await stub.release();
    expect(await stub.check({ now: 0 })).toEqual({ attempts: FREE_ATTEMPTS - 1, waitMs: 0 });
    for (let i = 0; i < 7; i++) await stub.fail({ now: 0 });
    await stub.succeed();
    expect(await stub.check({ now: 0 })).toEqual({ attempts: 0, waitMs: 0 });
    for (let i = 0; i < 7; i++) await stub.fail({ now: 0 });
    expect((await stub.check({ now: FORGET_AFTER_MS + 1 })).attempts).toBe(0);
  });
});
