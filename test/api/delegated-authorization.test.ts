import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { externalLogin } from "../../src/auth/auth-service.ts";
import type { AccountChange, GrantRule } from "../../src/auth/grant-rules.ts";
import { type Actor, asActor, SYSTEM } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import { findIdentity, getUser, listPermissions, updateUser } from "../../src/db/queries/users.ts";
import { PERMISSION_NAMES, type Permission, userPermissions } from "../../src/db/schema/users.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { ApiError } from "../../src/pkg/errors/api-error.ts";
import { promote, register, signedIn, uniqueName } from "../auth-helpers.ts";
import { api, expectProblem, type ProblemJson, testEnv } from "../helpers.ts";

// The grant rules of src/auth/grant-rules.ts (OWASP API3, API5), checked twice: through the API,
// and straight against the database's triggers with a raw statement as the same actor (for any
// query that forgets the route's checks). One table of cases drives both.

const config = loadApiConfig(testEnv);
const handle = openDatabase(config.database);
const db = handle.db;
afterAll(() => handle.close());

type Role = "user" | "admin";
interface Grantor {
  role: Role;
  permissions: Permission[];
}

const jsonInit = (method: string, headers: Record<string, string>, body: unknown): RequestInit => ({
  method,
  headers: { ...headers, "content-type": "application/json" },
  body: JSON.stringify(body),
});

/** A signed-in caller holding `grantor`'s role and permissions (given by the operator, as the system). */
async function staff(grantor: Grantor) {
  const caller = await signedIn();
  await promote(caller.user.id, grantor);
  return caller;
}

/** An account with a verified email, as the operator (or the verification flow) leaves it. */
async function verifiedUser(role: Role = "user") {
  const { user } = await register();
  await asActor(db, SYSTEM, (tx) => updateUser(tx, { id: user.id, changes: { emailVerified: true, role } }));
  return user;
}

const readUser = (id: string) => asActor(db, SYSTEM, (tx) => getUser(tx, { id }));
const readPermissions = (userId: string) => asActor(db, SYSTEM, (tx) => listPermissions(tx, { userId }));

/** The actor row-level security and the triggers see for `grantor` (admins hold every permission). */
const actorFor = (userId: string, grantor: Grantor): Actor => ({
  kind: "user",
  userId,
  role: grantor.role,
  permissions: grantor.role === "admin" ? PERMISSION_NAMES : grantor.permissions,
});

type Target = "self" | "user" | "admin";
interface Case {
  name: string;
  grantor: Grantor;
  target: Target;
  change: AccountChange;
  allowed: boolean;
  /** The rule a refusal names: "function" is the gateway's missing permission (insufficient_scope). */
  rule?: GrantRule;
}

// Each delegated permission alone, without users:read: editing and managing users include finding
// them (row-level security let neither read a row, so each answered 404), granting reads only the
// target's role.
const manager: Grantor = { role: "user", permissions: ["users:manage"] };
const permissionManager: Grantor = { role: "user", permissions: ["permissions:manage"] };
const writer: Grantor = { role: "user", permissions: ["users:write"] };
const reader: Grantor = { role: "user", permissions: ["users:read"] };
const admin: Grantor = { role: "admin", permissions: [] };
const email = { kind: "attributes", fields: ["email"] } as const;
const verify = { kind: "attributes", fields: ["emailVerified"], emailVerified: true } as const;

const CASES: Case[] = [
  // users:manage
  {
    name: "users:manage makes itself admin",
    grantor: manager,
    target: "self",
    change: { kind: "role", role: "admin" },
    allowed: false,
    rule: "self",
  },
  {
    name: "users:manage makes another user admin",
    grantor: manager,
    target: "user",
    change: { kind: "role", role: "admin" },
    allowed: false,
    rule: "held",
  },
  {
    name: "users:manage demotes an admin",
    grantor: manager,
    target: "admin",
    change: { kind: "role", role: "user" },
    allowed: false,
    rule: "admins",
  },
  {
    name: "users:manage sets a user's role to user",
    grantor: manager,
    target: "user",
    change: { kind: "role", role: "user" },
    allowed: true,
  },
  { name: "users:manage disables a user", grantor: manager, target: "user", change: { kind: "status" }, allowed: true },
  {
    name: "users:manage disables itself",
    grantor: manager,
    target: "self",
    change: { kind: "status" },
    allowed: false,
    rule: "self",
  },
  {
    name: "users:manage disables an admin",
    grantor: manager,
    target: "admin",
    change: { kind: "status" },
    allowed: false,
    rule: "admins",
  },
  { name: "users:manage deletes a user", grantor: manager, target: "user", change: { kind: "delete" }, allowed: true },
  {
    name: "users:manage deletes itself",
    grantor: manager,
    target: "self",
    change: { kind: "delete" },
    allowed: false,
    rule: "self",
  },
  {
    name: "users:manage deletes an admin",
    grantor: manager,
    target: "admin",
    change: { kind: "delete" },
    allowed: false,
    rule: "admins",
  },
  {
    name: "users:manage changes a user's email",
    grantor: manager,
    target: "user",
    change: email,
    allowed: false,
    rule: "function",
  },
  // permissions:manage (without users:read)
  {
    name: "permissions:manage grants itself users:manage",
    grantor: permissionManager,
    target: "self",
    change: { kind: "permission", permission: "users:manage" },
    allowed: false,
    rule: "self",
  },
  {
    name: "permissions:manage grants a user what it holds",
    grantor: permissionManager,
    target: "user",
    change: { kind: "permission", permission: "permissions:manage" },
    allowed: true,
  },
  {
    name: "permissions:manage grants a user what it does not hold",
    grantor: permissionManager,
    target: "user",
    change: { kind: "permission", permission: "users:manage" },
    allowed: false,
    rule: "held",
  },
  {
    name: "permissions:manage grants an admin what it holds",
    grantor: permissionManager,
    target: "admin",
    change: { kind: "permission", permission: "permissions:manage" },
    allowed: false,
    rule: "admins",
  },
  // users:write
  { name: "users:write changes a user's email", grantor: writer, target: "user", change: email, allowed: true },
  {
    name: "users:write changes an admin's email",
    grantor: writer,
    target: "admin",
    change: email,
    allowed: false,
    rule: "admins",
  },
  {
    name: "users:write changes its own email",
    grantor: writer,
    target: "self",
    change: email,
    allowed: false,
    rule: "self",
  },
  {
    name: "users:write marks a user's email verified",
    grantor: writer,
    target: "user",
    change: verify,
    allowed: false,
    rule: "verification",
  },
  {
    name: "users:write disables a user",
    grantor: writer,
    target: "user",
    change: { kind: "status" },
    allowed: false,
    rule: "function",
  },
  // users:read only
  {
    name: "users:read disables a user",
    grantor: reader,
    target: "user",
    change: { kind: "status" },
    allowed: false,
    rule: "function",
  },
  {
    name: "users:read grants a permission",
    grantor: reader,
    target: "user",
    change: { kind: "permission", permission: "users:read" },
    allowed: false,
    rule: "function",
  },
  // admins
  {
    name: "an admin makes a user admin",
    grantor: admin,
    target: "user",
    change: { kind: "role", role: "admin" },
    allowed: true,
  },
  {
    name: "an admin disables another admin",
    grantor: admin,
    target: "admin",
    change: { kind: "status" },
    allowed: true,
  },
  { name: "an admin changes another admin's email", grantor: admin, target: "admin", change: email, allowed: true },
  { name: "an admin marks a user's email verified", grantor: admin, target: "user", change: verify, allowed: true },
  {
    name: "an admin demotes itself",
    grantor: admin,
    target: "self",
    change: { kind: "role", role: "user" },
    allowed: false,
    rule: "self",
  },
  {
    name: "an admin disables itself",
    grantor: admin,
    target: "self",
    change: { kind: "status" },
    allowed: false,
    rule: "self",
  },
  {
    name: "an admin grants itself a permission",
    grantor: admin,
    target: "self",
    change: { kind: "permission", permission: "users:read" },
    allowed: false,
    rule: "self",
  },
  {
    name: "an admin changes its own email",
    grantor: admin,
    target: "self",
    change: email,
    allowed: false,
    rule: "self",
  },
];

/** The request a client sends for `change`. */
function viaApi(
  change: AccountChange,
  id: string,
  auth: Record<string, string>,
  newEmail: string,
): [string, RequestInit] {
  switch (change.kind) {
    case "role":
      return [`/users/${id}/role`, jsonInit("PUT", auth, { role: change.role })];
    case "status":
      return [`/users/${id}/disable`, { method: "POST", headers: auth }];
    case "delete":
      return [`/users/${id}`, { method: "DELETE", headers: auth }];
    case "permission":
      return [`/users/${id}/permissions/${change.permission}`, { method: "PUT", headers: auth }];
    case "attributes":
      return [
        `/users/${id}`,
        jsonInit("PATCH", auth, change.emailVerified ? { emailVerified: true } : { email: newEmail }),
      ];
  }
}

/** The same change as one raw statement, bypassing every check of the routes. */
function viaSql(change: AccountChange, id: string, newEmail: string) {
  switch (change.kind) {
    case "role":
      return sql`update users set role = ${change.role} where id = ${id}`;
    case "status":
      return sql`update users set status = 'disabled' where id = ${id}`;
    case "delete":
      return sql`delete from users where id = ${id}`;
    case "permission":
      return sql`insert into user_permissions (user_id, permission) values (${id}, ${change.permission})`;
    case "attributes":
      return change.emailVerified
        ? sql`update users set email_verified = true where id = ${id}`
        : sql`update users set email = ${newEmail} where id = ${id}`;
  }
}

/** Whether `change` shows on the target now. */
async function changed(change: AccountChange, id: string, newEmail: string) {
  const user = await readUser(id);
  switch (change.kind) {
    case "role":
      return user?.role === change.role;
    case "status":
      return user?.status === "disabled";
    case "delete":
      return user === undefined;
    case "permission":
      return (await readPermissions(id)).includes(change.permission);
    case "attributes":
      return change.emailVerified ? user?.emailVerified === true : user?.email === newEmail;
  }
}

/** The account acted on: verified, unless the change is to verify it. */
async function targetFor(target: Target, callerId: string, change: AccountChange) {
  if (target === "self") return callerId;
  const role = target === "admin" ? "admin" : "user";
  if (change.kind === "attributes" && change.emailVerified) {
    const { user } = await register();
    if (role === "admin") await promote(user.id, { role });
    return user.id;
  }
  return (await verifiedUser(role)).id;
}

describe("the grant rules, through the API", () => {
  for (const c of CASES) {
    it(`${c.allowed ? "allows" : "refuses"}: ${c.name}`, async () => {
      const caller = await staff(c.grantor);
      const id = await targetFor(c.target, caller.user.id, c.change);
      const roleBefore = (await readUser(id))?.role;
      const newEmail = `${uniqueName("moved")}@example.com`;
      const [path, init] = viaApi(c.change, id, caller.auth, newEmail);
      const res = await api(path, init);
      if (c.allowed) {
        expect(res.status, await res.clone().text()).toBeLessThan(300);
      } else {
        const problem = (await expectProblem(res, 403)) as ProblemJson & { grantRule?: string };
        expect(problem.type).toBe("/problems/forbidden");
        // Refused by the route's own check, not only by the trigger under it.
        if (c.rule === "function") expect(res.headers.get("www-authenticate")).toMatch(/insufficient_scope/);
        else expect(problem.grantRule).toBe(c.rule);
      }
      // A role set to what it already was shows no change either way.
      if (c.change.kind !== "role" || c.change.role !== roleBefore) {
        expect(await changed(c.change, id, newEmail)).toBe(c.allowed);
      }
    });
  }
});

describe("the grant rules, in the database (a raw statement as the same actor)", () => {
  for (const c of CASES) {
    // A role set to what it already is changes nothing the database could refuse.
    if (c.change.kind === "role" && c.change.role === "user" && c.target === "user") continue;
    it(`${c.allowed ? "allows" : "refuses"}: ${c.name}`, async () => {
      const { user: caller } = await register();
      await promote(caller.id, c.grantor);
      const id = await targetFor(c.target, caller.id, c.change);
      const newEmail = `${uniqueName("moved")}@example.com`;
      const outcome = await asActor(db, actorFor(caller.id, c.grantor), (tx) =>
        tx.execute(viaSql(c.change, id, newEmail)),
      ).then(
        () => "ran",
        (error: unknown) => error,
      );
      if (c.allowed) expect(outcome).toBe("ran");
      expect(await changed(c.change, id, newEmail)).toBe(c.allowed);
    });
  }
});

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
      client: { ip: "10.200.0.1", userAgent: null },
    };
    const refusal = await externalLogin(deps, identity).then(
      () => undefined,
      (error: unknown) => error,
    );
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

describe("delegated permissions", () => {
  it("revoking is limited like granting: only what one holds, never one's own", async () => {
    const caller = await staff(permissionManager);
    const target = await verifiedUser();
    await promote(target.id, { permissions: ["users:manage", "permissions:manage"] });
    await expectProblem(
      await api(`/users/${target.id}/permissions/users:manage`, { method: "DELETE", headers: caller.auth }),
      403,
    );
    const revoked = await api(`/users/${target.id}/permissions/permissions:manage`, {
      method: "DELETE",
      headers: caller.auth,
    });
    expect(await revoked.json()).toEqual({ permissions: ["users:manage"] });
    await expectProblem(
      await api(`/users/${caller.user.id}/permissions/permissions:manage`, { method: "DELETE", headers: caller.auth }),
      403,
    );
    expect(await readPermissions(caller.user.id)).toEqual(["permissions:manage"]);
  });

  // RFC 9562 §4: a UUID compares case-insensitively. The route compared the path as sent with the
  // caller's id, so its own id in uppercase slipped past the "self" rule to the trigger (a bare 403).
  it.each([
    ["grants", "PUT"],
    ["revokes", "DELETE"],
  ] as const)("the self rule sees one's own id in uppercase: %s permissions:manage", async (_, method) => {
    const caller = await staff(permissionManager);
    const res = await api(`/users/${caller.user.id.toUpperCase()}/permissions/permissions:manage`, {
      method,
      headers: caller.auth,
    });
    const problem = (await expectProblem(res, 403)) as ProblemJson & { grantRule?: string };
    expect(problem.grantRule).toBe("self");
    expect(await readPermissions(caller.user.id)).toEqual(["permissions:manage"]);
  });

  it("another user's id in uppercase names that user: granting to it works", async () => {
    const caller = await staff(permissionManager);
    const target = await verifiedUser();
    const granted = await api(`/users/${target.id.toUpperCase()}/permissions/permissions:manage`, {
      method: "PUT",
      headers: caller.auth,
    });
    expect(await granted.json()).toEqual({ permissions: ["permissions:manage"] });
    expect(await readPermissions(target.id)).toEqual(["permissions:manage"]);
  });

  it("records who granted in the database, whatever the statement claims", async () => {
    const { user: granter } = await register();
    await promote(granter.id, { permissions: ["permissions:manage", "users:read"] });
    const target = await verifiedUser();
    const someoneElse = await verifiedUser();
    await asActor(db, actorFor(granter.id, { role: "user", permissions: ["permissions:manage", "users:read"] }), (tx) =>
      tx.insert(userPermissions).values({ userId: target.id, permission: "users:read", grantedBy: someoneElse.id }),
    );
    const rows = await asActor(db, SYSTEM, (tx) =>
      tx.select().from(userPermissions).where(sql`${userPermissions.userId} = ${target.id}`),
    );
    expect(rows.map((row) => [row.permission, row.grantedBy])).toEqual([["users:read", granter.id]]);
  });

  it("deleting a user takes their grants along and keeps the grants they made", async () => {
    const caller = await staff(manager);
    const granter = await verifiedUser();
    const holder = await verifiedUser();
    await promote(granter.id, { permissions: ["users:read"] });
    await asActor(db, SYSTEM, (tx) =>
      tx.insert(userPermissions).values({ userId: holder.id, permission: "users:read", grantedBy: granter.id }),
    );
    expect((await api(`/users/${granter.id}`, { method: "DELETE", headers: caller.auth })).status).toBe(204);
    expect(await readPermissions(granter.id)).toEqual([]);
    expect(await readPermissions(holder.id)).toEqual(["users:read"]);
  });
});

describe("concurrent delegated changes (OWASP API5: decided on the actor's current rights)", () => {
  // Each request passes the session check before either commits; only the writing transaction,
  // serialised with every other delegated change and re-reading the actor, can refuse the second.
  const ROUNDS = 5;

  it("two users:manage holders disabling each other at once: exactly one succeeds", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const [a, b] = await Promise.all([staff(manager), staff(manager)]);
      const responses = await Promise.all([
        api(`/users/${b.user.id}/disable`, { method: "POST", headers: a.auth }),
        api(`/users/${a.user.id}/disable`, { method: "POST", headers: b.auth }),
      ]);
      const statuses = responses.map((res) => res.status);
      const winner = statuses.indexOf(200);
      expect(
        statuses.filter((status) => status === 200),
        `round ${round}: ${statuses}`,
      ).toHaveLength(1);
      const loser = responses[1 - winner];
      // 403 when its transaction saw it disabled; 401 when it came after its sessions had ended.
      expect([401, 403], `round ${round}: ${statuses}`).toContain(loser?.status);
      if (loser?.status === 403) {
        expect(((await loser.json()) as { grantRule?: string }).grantRule).toBe("function");
      }
      // The state one sequential order leaves: the loser disabled, the winner still active.
      const [winnerId, loserId] = winner === 0 ? [a.user.id, b.user.id] : [b.user.id, a.user.id];
      expect((await readUser(winnerId))?.status).toBe("active");
      expect((await readUser(loserId))?.status).toBe("disabled");
    }
  });

  it("two permissions:manage holders revoking each other's permissions:manage at once: exactly one succeeds", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const [a, b] = await Promise.all([staff(permissionManager), staff(permissionManager)]);
      const revoke = (target: string, auth: Record<string, string>) =>
        api(`/users/${target}/permissions/permissions:manage`, { method: "DELETE", headers: auth });
      const responses = await Promise.all([revoke(b.user.id, a.auth), revoke(a.user.id, b.auth)]);
      const statuses = responses.map((res) => res.status);
      const winner = statuses.indexOf(200);
      expect(
        statuses.filter((status) => status === 200),
        `round ${round}: ${statuses}`,
      ).toHaveLength(1);
      const loser = responses[1 - winner];
      expect(loser?.status, `round ${round}: ${statuses}`).toBe(403);
      const [winnerId, loserId] = winner === 0 ? [a.user.id, b.user.id] : [b.user.id, a.user.id];
      expect(await readPermissions(winnerId)).toEqual(["permissions:manage"]);
      expect(await readPermissions(loserId)).toEqual([]);
    }
  });
});
