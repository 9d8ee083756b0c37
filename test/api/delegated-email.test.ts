import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { externalLogin } from "../../src/auth/auth-service.ts";
import { asActor, SYSTEM } from "../../src/db/actor.ts";
import { findIdentity } from "../../src/db/queries/users.ts";
import { ApiError } from "../../src/pkg/errors/api-error.ts";
import { promote, register, uniqueName } from "../auth-helpers.ts";
import {
  actorFor,
  admin,
  config,
  db,
  type Grantor,
  handle,
  jsonInit,
  readUser,
  staff,
  verifiedUser,
  writer,
} from "../grant-helpers.ts";
import { api, expectProblem, testEnv } from "../helpers.ts";

describe("email changes and verification (OIDC linking trusts emailVerified)", () => {
  it("a users:write holder moving a verified account's email leaves it unverified, and OIDC does not hand it over", async () => {
    const victim = await verifiedUser();
    const attacker = await staff(writer);
    const attackerEmail = `${uniqueName("attacker")}@example.com`;
    const res = await api(`/users/${victim.id}`, jsonInit("PATCH", attacker.auth, { email: attackerEmail }));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ email: attackerEmail, emailVerified: false });

    // The attacker now signs in at a provider that verified the address they control.
    const identity = {
      provider: "local",
      subject: crypto.randomUUID(),
      email: attackerEmail,
      emailVerified: true,
      name: undefined,
    };
    const deps = {
      config,
      db,
      http: handle.http,
      sessions: testEnv.SESSIONS,
      throttle: testEnv.LOGIN_THROTTLE,
      client: { ip: "10.200.0.1", userAgent: null, requestId: null },
      // The refusal's security event, recorded after the response in a worker, is awaited here.
      background: (_name: string, task: () => Promise<unknown>) => void background.push(task()),
    };
    const background: Promise<unknown>[] = [];
    const refusal = await externalLogin(deps, identity).then(
      () => undefined,
      (error: unknown) => error,
    );
    await Promise.all(background);
    expect(refusal).toBeInstanceOf(ApiError);
    expect((refusal as ApiError).code).toBe("conflict");
    expect(await asActor(db, SYSTEM, (tx) => findIdentity(tx, identity))).toBeUndefined();
  });

  it("an admin's change of an email clears verification too, and a new email cannot come verified", async () => {
    const boss = await staff(admin);
    const user = await verifiedUser();
    const newEmail = `${uniqueName("new")}@example.com`;
    const together = await api(
      `/users/${user.id}`,
      jsonInit("PATCH", boss.auth, { email: newEmail, emailVerified: true }),
    );
    expect((await expectProblem(together, 403)).detail).toMatch(/unverified/);
    expect(await readUser(user.id)).toMatchObject({ email: user.email, emailVerified: true });

    const moved = await api(`/users/${user.id}`, jsonInit("PATCH", boss.auth, { email: newEmail }));
    expect(await moved.json()).toMatchObject({ email: newEmail, emailVerified: false });
    // Verified again only by vouching for it in a change of its own.
    const vouched = await api(`/users/${user.id}`, jsonInit("PATCH", boss.auth, { emailVerified: true }));
    expect(await vouched.json()).toMatchObject({ email: newEmail, emailVerified: true });
  });

  it("the database clears verification on any email change, even one that asks to keep it", async () => {
    const boss = await register();
    await promote(boss.user.id, { role: "admin" });
    const user = await verifiedUser();
    const newEmail = `${uniqueName("raw")}@example.com`;
    await asActor(db, actorFor(boss.user.id, admin), (tx) =>
      tx.execute(sql`update users set email = ${newEmail}, email_verified = true where id = ${user.id}`),
    );
    expect(await readUser(user.id)).toMatchObject({ email: newEmail, emailVerified: false });
  });

  const userManager: Grantor = { role: "user", permissions: ["users:manage", "users:read"] };
  it.each([
    ["an admin", admin],
    ["a users:manage holder", userManager],
  ] as const)(
    "the database refuses %s setting another account's password hash (signing in as them)",
    async (_, who) => {
      const caller = await register();
      const user = await verifiedUser();
      const raw = asActor(db, actorFor(caller.user.id, who), (tx) =>
        tx.execute(sql`update users set password_hash = 'pbkdf2$chosen-by-the-caller' where id = ${user.id}`),
      );
      const refused = await raw.then(
        () => undefined,
        (error: unknown) => error as { cause?: { message?: string } },
      );
      expect(refused?.cause?.message).toMatch(/only the server changes a password hash/);
    },
  );
});
