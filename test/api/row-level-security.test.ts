import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { type Actor, asActor, SYSTEM } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import { getUser, insertUser, listPermissions, updateUser } from "../../src/db/queries/users.ts";
import { users } from "../../src/db/schema/users.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { uniqueName } from "../auth-helpers.ts";
import { testEnv } from "../helpers.ts";

// Straight at the database, with the role and connection the workers use.
const handle = openDatabase(loadApiConfig(testEnv).database);
const db = handle.db;
afterAll(() => handle.close());

async function newUser() {
  const name = uniqueName("rls");
  return asActor(db, SYSTEM, (tx) =>
    insertUser(tx, { email: `${name}@example.com`, username: name, passwordHash: "!" }),
  );
}

const asUser = (id: string, role: "user" | "admin" = "user"): Actor => ({
  kind: "user",
  userId: id,
  role,
  permissions: [],
});

describe("row-level security", () => {
  it("applies to the role the app connects with, though it owns the tables", async () => {
    const rows = await db.execute<{
      rolsuper: boolean;
      rolbypassrls: boolean;
      owner: string;
      forced: boolean;
      me: string;
    }>(sql`
      select r.rolsuper, r.rolbypassrls, pg_get_userbyid(c.relowner) as owner, c.relforcerowsecurity as forced, current_user as me
      from pg_roles r, pg_class c where r.rolname = current_user and c.relname = 'users'`);
    expect(rows.rows[0]).toEqual({
      rolsuper: false,
      rolbypassrls: false,
      owner: rows.rows[0]?.me,
      forced: true,
      me: rows.rows[0]?.me,
    });
  });

  it("shows nothing outside an actor transaction", async () => {
    await newUser();
    const visible = await db.select({ id: users.id }).from(users);
    expect(visible).toEqual([]);
  });

  it("shows a user only their own row", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const seen = await asActor(db, asUser(alice.id), (tx) => tx.select({ id: users.id }).from(users));
    expect(seen).toEqual([{ id: alice.id }]);
    expect(await asActor(db, asUser(alice.id), (tx) => getUser(tx, { id: bob.id }))).toBeUndefined();
  });

  it("lets a user update only their own row", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const updated = await asActor(db, asUser(alice.id), (tx) =>
      updateUser(tx, { id: bob.id, changes: { displayName: "pwned" } }),
    );
    expect(updated).toBeUndefined();
    expect((await asActor(db, SYSTEM, (tx) => getUser(tx, { id: bob.id })))?.displayName).toBeNull();
  });

  it("stops a user from raising their own role even with a raw query", async () => {
    const alice = await newUser();
    await expect(
      asActor(db, asUser(alice.id), (tx) => tx.execute(sql`update users set role = 'admin' where id = ${alice.id}`)),
    ).rejects.toThrow();
    expect((await asActor(db, SYSTEM, (tx) => getUser(tx, { id: alice.id })))?.role).toBe("user");
  });

  it("lets no plain user create users or grant permissions", async () => {
    const alice = await newUser();
    await expect(
      asActor(db, asUser(alice.id), (tx) =>
        insertUser(tx, { email: "x@example.com", username: uniqueName(), passwordHash: "!" }),
      ),
    ).rejects.toThrow();
    await expect(
      asActor(db, asUser(alice.id), (tx) =>
        tx.execute(sql`insert into user_permissions (user_id, permission) values (${alice.id}, 'users:read')`),
      ),
    ).rejects.toThrow();
    expect(await asActor(db, SYSTEM, (tx) => listPermissions(tx, { userId: alice.id }))).toEqual([]);
  });

  it("gives administrators every row", async () => {
    const alice = await newUser();
    const admin = await newUser();
    expect((await asActor(db, asUser(admin.id, "admin"), (tx) => getUser(tx, { id: alice.id })))?.id).toBe(alice.id);
  });

  it("honours a delegated permission the same way the routes do", async () => {
    const alice = await newUser();
    const reader = await newUser();
    const actor: Actor = { kind: "user", userId: reader.id, role: "user", permissions: ["users:read"] };
    expect((await asActor(db, actor, (tx) => getUser(tx, { id: alice.id })))?.id).toBe(alice.id);
    expect(await asActor(db, actor, (tx) => updateUser(tx, { id: alice.id, changes: { bio: "x" } }))).toBeUndefined();
  });

  it("keeps the acting user inside its transaction (pooled connections carry nothing over)", async () => {
    const alice = await newUser();
    await asActor(db, asUser(alice.id), async () => undefined);
    const after = await db.execute<{ v: string | null }>(sql`select current_setting('app.user_id', true) as v`);
    expect(after.rows[0]?.v ?? "").toBe("");
  });
});
