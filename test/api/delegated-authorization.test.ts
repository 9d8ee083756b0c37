import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import type { AccountChange, GrantRule } from "../../src/auth/grant-rules.ts";
import { asActor } from "../../src/db/actor.ts";
import { promote, register, uniqueName } from "../auth-helpers.ts";
import {
  actorFor,
  admin,
  db,
  type Grantor,
  jsonInit,
  manager,
  permissionManager,
  reader,
  readPermissions,
  readUser,
  staff,
  verifiedUser,
  writer,
} from "../grant-helpers.ts";
import { api, expectProblem, type ProblemJson } from "../helpers.ts";

// The grant rules of src/auth/grant-rules.ts (OWASP API3, API5), checked twice: through the API,
// and straight against the database's triggers with a raw statement as the same actor (for any
// query that forgets the route's checks). One table of cases drives both.

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
    default:
      // Password, second-factor and throttle changes have their own tests (account-admin.test.ts).
      throw new Error(`${change.kind} is not a case of this table`);
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
    default:
      // Password, second-factor and throttle changes have their own tests (account-admin.test.ts).
      throw new Error(`${change.kind} is not a case of this table`);
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
    default:
      // Password, second-factor and throttle changes have their own tests (account-admin.test.ts).
      throw new Error(`${change.kind} is not a case of this table`);
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
