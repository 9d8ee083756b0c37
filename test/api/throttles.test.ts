import { env } from "cloudflare:test";
import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { stepAt, totpCode, verifyTotp } from "../../src/auth/totp.ts";
import { users } from "../../src/db/schema/users.ts";
import { CLIENT_FREE_ATTEMPTS, FIRST_WAIT_MS, FREE_ATTEMPTS } from "../../src/durable-objects/login-throttle.ts";
import type { Principal } from "../../src/durable-objects/sessions.ts";
import { clientAddressKey } from "../../src/pkg/http/client-address.ts";
import {
  expectOAuthError,
  login,
  PASSWORD,
  randomIp,
  register,
  signedIn,
  type Tokens,
  tokenRequest,
  uniqueName,
} from "../auth-helpers.ts";
import { api, apiWith, asSystem, captureLines, expectProblem } from "../helpers.ts";

const wrong = (username: string, ip = randomIp()) =>
  tokenRequest({ grant_type: "password", username, password: "wrong password" }, ip);

/** Two neighbouring /64s of the documentation prefix, fresh for each test: `2001:db8:<a>:<b>`. */
function randomIpv6Networks(): [string, string] {
  const [a = 0, b = 0] = crypto.getRandomValues(new Uint16Array(2));
  const hex = (n: number) => n.toString(16);
  return [`2001:db8:${hex(a)}:${hex(b & 0xfffe)}`, `2001:db8:${hex(a)}:${hex((b & 0xfffe) + 1)}`];
}

const post = (path: string, auth: Record<string, string>, body: unknown) =>
  api(path, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json", "cf-connecting-ip": randomIp() },
    body: JSON.stringify(body),
  });

async function enrol(auth: Record<string, string>) {
  const setup = (await (await post("/auth/mfa/setup", auth, {})).json()) as { secret: string };
  const usedStep = stepAt(Date.now());
  const res = await post("/auth/mfa/confirm", auth, { code: await totpCode(setup.secret, usedStep) });
  expect(res.status).toBe(200);
  return { secret: setup.secret, usedStep };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the login throttle (OWASP API2)", () => {
  it(`checks exactly ${FREE_ATTEMPTS} of 30 concurrent wrong passwords for one account`, async () => {
    const { user } = await register();
    const started = Date.now();
    const responses = await Promise.all(Array.from({ length: 30 }, () => wrong(user.username)));
    // The free attempts, plus at most one more per wait (1 s, 2 s, 4 s ...) that passed while the
    // 30 were under way: on a run quicker than a second, exactly FREE_ATTEMPTS are checked.
    const waitsPassed = Math.floor(Math.log2((Date.now() - started) / FIRST_WAIT_MS + 1));
    const statuses = responses.map((r) => r.status);
    const checked = statuses.filter((s) => s === 400).length;
    expect(checked).toBeGreaterThanOrEqual(FREE_ATTEMPTS);
    expect(checked).toBeLessThanOrEqual(FREE_ATTEMPTS + waitsPassed);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30 - checked);
    const refused = responses.find((r) => r.status === 429);
    if (!refused) throw new Error("no attempt was refused");
    await expectOAuthError(refused, 429, "slow_down");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Each checked guess stays counted in the account's one bucket (its id, not what was typed).
    const bucket = env.LOGIN_THROTTLE.get(env.LOGIN_THROTTLE.idFromName(`account:${user.id}`));
    expect((await bucket.check()).attempts).toBe(checked);
  });

  it("counts the email and the username of an account in one bucket", async () => {
    const { user } = await register();
    for (let i = 0; i < 3; i++) await expectOAuthError(await wrong(user.email), 400, "invalid_grant");
    for (let i = 3; i < FREE_ATTEMPTS; i++) {
      await expectOAuthError(await wrong(user.username.toUpperCase()), 400, "invalid_grant");
    }
    await expectOAuthError(
      await tokenRequest({ grant_type: "password", username: ` ${user.email.toUpperCase()} `, password: PASSWORD }),
      429,
      "slow_down",
    );
  });

  it("throttles an unknown identifier exactly as a known account, so waits reveal nothing", async () => {
    const { user } = await register();
    const unknown = `${uniqueName("nobody")}@example.com`;
    const known: number[] = [];
    const nobody: number[] = [];
    for (let i = 0; i < FREE_ATTEMPTS + 1; i++) {
      known.push((await wrong(user.email)).status);
      nobody.push((await wrong(unknown)).status);
    }
    expect(nobody).toEqual(known);
    expect(known).toEqual([...Array<number>(FREE_ATTEMPTS).fill(400), 429]);
  });

  it("counts a client by its IPv6 /64, not by each address in it", async () => {
    const { user } = await register();
    const [network, neighbour] = randomIpv6Networks();
    for (let i = 1; i <= CLIENT_FREE_ATTEMPTS; i++) {
      await expectOAuthError(
        await wrong(`${uniqueName("nobody")}@example.com`, `${network}::${i}`),
        400,
        "invalid_grant",
      );
    }
    const right = (ip: string) =>
      tokenRequest({ grant_type: "password", username: user.email, password: PASSWORD }, ip);
    await expectOAuthError(await right(`${network}:ffff:1:2:3`), 429, "slow_down");
    // An IPv4-mapped address is the IPv4 client; a neighbouring /64 is another client.
    expect(clientAddressKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(clientAddressKey(`${network}::1`)).toBe(`${network}::/64`);
    expect((await right(`${neighbour}::1`)).status).toBe(200);
  });

  it("forgets an account's failures after the right password, but keeps the client's", async () => {
    const ip = randomIp();
    const { user } = await register();
    for (let i = 0; i < FREE_ATTEMPTS - 1; i++) {
      await expectOAuthError(await wrong(user.email, ip), 400, "invalid_grant");
    }
    expect((await tokenRequest({ grant_type: "password", username: user.email, password: PASSWORD }, ip)).status).toBe(
      200,
    );
    // The account starts over (from elsewhere), the address still holds its four failures.
    for (let i = 0; i < FREE_ATTEMPTS - 1; i++) await expectOAuthError(await wrong(user.email), 400, "invalid_grant");
    for (let i = FREE_ATTEMPTS - 1; i < CLIENT_FREE_ATTEMPTS; i++) {
      await expectOAuthError(await wrong(`${uniqueName("nobody")}@example.com`, ip), 400, "invalid_grant");
    }
    await expectOAuthError(await wrong(`${uniqueName("nobody")}@example.com`, ip), 429, "slow_down");
  });
});

describe("codes and tokens share the throttle", () => {
  it("/auth/mfa/disable refuses after the free wrong codes, even the right code, with 429", async () => {
    const { auth } = await signedIn();
    const { secret, usedStep } = await enrol(auth);
    for (let i = 0; i < FREE_ATTEMPTS; i++)
      await expectProblem(await post("/auth/mfa/disable", auth, { code: "000000" }), 400);
    const res = await post("/auth/mfa/disable", auth, { code: await totpCode(secret, usedStep + 1) });
    const problem = await expectProblem(res, 429);
    expect(problem.type).toBe("/problems/rate_limited");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("/auth/mfa/disable and the MFA login count the same second-factor bucket", async () => {
    const { auth, user } = await signedIn();
    const { secret, usedStep } = await enrol(auth);
    for (let i = 0; i < FREE_ATTEMPTS; i++) {
      await expectProblem(await post("/auth/mfa/disable", auth, { recoveryCode: "AAAAA-BBBBB" }), 400);
    }
    const challenge = await expectOAuthError(
      await tokenRequest({ grant_type: "password", username: user.email, password: PASSWORD }),
      403,
      "mfa_required",
    );
    await expectOAuthError(
      await tokenRequest({
        grant_type: "urn:techcorp:params:oauth:grant-type:mfa-otp",
        mfa_token: challenge.mfa_token ?? "",
        otp: await totpCode(secret, usedStep + 1),
      }),
      429,
      "slow_down",
    );
  });

  it("/auth/mfa/confirm refuses after the free wrong codes", async () => {
    const { auth } = await signedIn();
    const setup = (await (await post("/auth/mfa/setup", auth, {})).json()) as { secret: string };
    for (let i = 0; i < FREE_ATTEMPTS; i++)
      await expectProblem(await post("/auth/mfa/confirm", auth, { code: "000000" }), 400);
    const right = await totpCode(setup.secret, stepAt(Date.now()));
    await expectProblem(await post("/auth/mfa/confirm", auth, { code: right }), 429);
  });

  it("refresh tokens: a client presenting wrong ones is slowed down, others are not", async () => {
    const ip = randomIp();
    const { user, tokens } = await signedIn();
    const refresh = (token: string, from: string) =>
      api("/auth/refresh", {
        method: "POST",
        headers: { "content-type": "application/json", "cf-connecting-ip": from },
        body: JSON.stringify({ refresh_token: token }),
      });
    for (let i = 0; i < CLIENT_FREE_ATTEMPTS; i++) {
      const forged = `${user.id}.${crypto.randomUUID()}.${"A".repeat(43)}`;
      await expectProblem(await refresh(forged, ip), 400);
    }
    const res = await refresh(tokens.refresh_token, ip);
    const problem = (await expectProblem(res, 429)) as { error?: string };
    expect(problem.error).toBe("slow_down");
    const elsewhere = await refresh(tokens.refresh_token, randomIp());
    expect(elsewhere.status).toBe(200);
    expect(((await elsewhere.json()) as Tokens).refresh_token).not.toBe(tokens.refresh_token);
  });
});

describe("constant-time comparisons of secrets", () => {
  it("TOTP codes are compared with timingSafeEqual, not ===", async () => {
    const spy = vi.spyOn(crypto.subtle, "timingSafeEqual");
    const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    const now = Date.now();
    expect(await verifyTotp(secret, await totpCode(secret, stepAt(now)), { now, lastUsedStep: null })).toBe(
      stepAt(now),
    );
    expect(spy).toHaveBeenCalled();
  });

  it("refresh-token hashes are compared with timingSafeEqual, not ===", async () => {
    const spy = vi.spyOn(crypto.subtle, "timingSafeEqual");
    const principal: Principal = { role: "user", status: "active", permissions: [] };
    const sessions = env.SESSIONS.get(env.SESSIONS.idFromName(crypto.randomUUID()));
    const { session, secret } = await sessions.create({ absoluteTtlMs: 60_000, idleTimeoutMs: 60_000, principal });
    expect((await sessions.rotate(session.id, secret)).outcome).toBe("rotated");
    expect(spy).toHaveBeenCalled();
  });
});

describe("registration does not tell whether an account exists (ASVS V2.2, V3)", () => {
  const registerRaw = (body: Record<string, string>) =>
    api("/users", {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": randomIp() },
      body: JSON.stringify(body),
    });

  /** The shape of an answer: status, Location's form, and each member with its type. */
  async function shapeOf(res: Response) {
    const body = (await res.json()) as Record<string, unknown>;
    return {
      status: res.status,
      location: res.headers.get("location")?.replace(/[0-9a-f-]{36}$/, "<id>"),
      members: Object.fromEntries(Object.entries(body).map(([k, v]) => [k, v === null ? "null" : typeof v])),
    };
  }

  it("answers a taken email or username as a new account, and creates nothing", async () => {
    const { user } = await register();
    const fresh = uniqueName();
    const created = await shapeOf(
      await registerRaw({ email: `${fresh}@example.com`, username: fresh, password: PASSWORD }),
    );
    const byEmailName = uniqueName();
    const lines = await captureLines(async () => {
      const byEmail = await apiWith({ LOG_LEVEL: "info" }, "/users", {
        method: "POST",
        headers: { "content-type": "application/json", "cf-connecting-ip": randomIp() },
        body: JSON.stringify({
          email: user.email.toUpperCase(),
          username: byEmailName,
          password: "another horse battery staple",
        }),
      });
      expect(await shapeOf(byEmail)).toEqual(created);
    });
    expect(lines.some((l) => /existing account/.test(String(l.message)) && l.field === "email")).toBe(true);
    const byName = await registerRaw({
      email: `${uniqueName()}@example.com`,
      username: user.username.toUpperCase(),
      password: "another horse battery staple",
    });
    expect(await shapeOf(byName)).toEqual(created);

    // Nothing was created or changed: the owner's password works, the newcomer's name does not exist.
    await login(user.email);
    await expectOAuthError(
      await tokenRequest({ grant_type: "password", username: byEmailName, password: "another horse battery staple" }),
      400,
      "invalid_grant",
    );
    const rows = await asSystem((tx) => tx.select({ id: users.id }).from(users).where(eq(users.email, user.email)));
    expect(rows).toEqual([{ id: user.id }]);
  });

  it("documents the same answer in the OpenAPI description, with no 409", async () => {
    const doc = (await (await api("/openapi.json")).json()) as {
      paths: Record<string, { post?: { description?: string; responses: Record<string, unknown> } }>;
    };
    const operation = doc.paths["/users"]?.post;
    expect(operation?.description).toMatch(/same whether or not the email or username is already taken/);
    expect(Object.keys(operation?.responses ?? {})).not.toContain("409");
  });
});
