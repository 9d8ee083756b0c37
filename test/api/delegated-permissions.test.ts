import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { asActor, SYSTEM } from "../../src/db/actor.ts";
import { userPermissions } from "../../src/db/schema/users.ts";
import { promote, register } from "../auth-helpers.ts";
import { actorFor, db, manager, permissionManager, readPermissions, staff, verifiedUser } from "../grant-helpers.ts";
import { api, expectProblem, type ProblemJson } from "../helpers.ts";

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
