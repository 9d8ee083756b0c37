import { neon } from "@neondatabase/serverless";
import { eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { type Actor, asActor, batchAsActor, firstRow, READ_ONLY, SYSTEM, switchActor } from "../../src/db/actor.ts";
import { type HttpQueryBuilder, HttpStatementOutsideTransactionError, openDatabase } from "../../src/db/client.ts";
import { serverError } from "../../src/db/errors.ts";
import {
  getUser,
  insertUser,
  listPermissions,
  permissionsOf,
  recordUserChanges,
  selectPermissions,
  selectUser,
} from "../../src/db/queries/users.ts";
import { userPermissions, users } from "../../src/db/schema/users.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { uniqueName } from "../auth-helpers.ts";
import { driverModes } from "../driver-modes.ts";
import { testEnv } from "../helpers.ts";

// Straight at the database, with the role and connection the workers use, in both of the
// driver's modes: every cross-user case runs through `asActor` (WebSocket, interactive) and
// through `batchAsActor` (HTTP, one batch whose first statement carries the settings).
const config = loadApiConfig(testEnv).database;
const handle = openDatabase(config);
const db = handle.db;
afterAll(() => handle.close());

const MODES = driverModes(handle);

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

  it("shows nothing outside an actor transaction (WebSocket)", async () => {
    await newUser();
    const visible = await db.select({ id: users.id }).from(users);
    expect(visible).toEqual([]);
  });

  it("shows nothing to a bare HTTP query, and the pooled backends carry no settings over", async () => {
    const alice = await newUser();
    await batchAsActor(handle.http, asUser(alice.id), (db) => [selectUser(db, { id: alice.id })]);
    // The unmodified driver, as anything that bypassed batchAsActor would run.
    const bare = neon(config.url);
    expect(await bare.query("select id from users")).toEqual([]);
    const [settings] = await bare.query("select current_setting('app.user_id', true) as v");
    expect(settings?.v ?? "").toBe("");
  });

  it("refuses an HTTP statement awaited outside its batch instead of running it without the settings", async () => {
    const alice = await newUser();
    let leaked: HttpQueryBuilder | undefined;
    await batchAsActor(handle.http, asUser(alice.id), (db) => {
      leaked = db;
      return [selectUser(db, { id: alice.id })];
    });
    if (!leaked) throw new Error("the batch did not build");
    // Drizzle reports it as the statement's failure, with our error as the cause.
    await expect(selectUser(leaked, { id: alice.id })).rejects.toSatisfy(
      (error) => error instanceof Error && error.cause instanceof HttpStatementOutsideTransactionError,
    );
  });

  it("keeps the acting user inside its transaction (pooled connections carry nothing over)", async () => {
    const alice = await newUser();
    await asActor(db, asUser(alice.id), async () => undefined);
    const after = await db.execute<{ v: string | null }>(sql`select current_setting('app.user_id', true) as v`);
    expect(after.rows[0]?.v ?? "").toBe("");
  });

  it("switches a WebSocket transaction's actor for the statements after switchActor", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const [asSystem, asAlice] = await asActor(db, SYSTEM, async (tx) => {
      const before = await selectUser(tx, { id: bob.id });
      await switchActor(tx, asUser(alice.id));
      return [before, await selectUser(tx, { id: bob.id })];
    });
    expect(asSystem.map((row) => row.id)).toEqual([bob.id]);
    expect(asAlice).toEqual([]);
  });

  it("rolls back the whole HTTP batch when one statement fails", async () => {
    const alice = await newUser();
    await expect(
      batchAsActor(handle.http, asUser(alice.id), (db) => [
        recordUserChanges(db, { id: alice.id, changes: { displayName: "half-written" } }),
        db.insert(userPermissions).values({ userId: alice.id, permission: "users:read" }),
      ]),
    ).rejects.toSatisfy((error) => serverError(error)?.code === "42501");
    expect((await asActor(db, SYSTEM, (tx) => getUser(tx, { id: alice.id })))?.displayName).toBeNull();
  });

  it("runs a read-only HTTP batch READ ONLY", async () => {
    const alice = await newUser();
    await expect(
      batchAsActor(
        handle.http,
        asUser(alice.id),
        (db) => [recordUserChanges(db, { id: alice.id, changes: { bio: "written" } })],
        READ_ONLY,
      ),
    ).rejects.toSatisfy((error) => serverError(error)?.code === "25006");
    expect((await asActor(db, SYSTEM, (tx) => getUser(tx, { id: alice.id })))?.bio).toBeNull();
  });

  it("returns each statement's result in order, without the settings' row", async () => {
    const alice = await newUser();
    await asActor(db, SYSTEM, (tx) =>
      tx
        .insert(userPermissions)
        .values({ userId: alice.id, permission: "users:read" })
        .then(() => undefined),
    );
    const [user, permissions] = await batchAsActor(
      handle.http,
      asUser(alice.id),
      (db) => [selectUser(db, { id: alice.id }), selectPermissions(db, { userId: alice.id })],
      READ_ONLY,
    );
    expect(firstRow(user)?.id).toBe(alice.id);
    expect(firstRow(user)?.createdAt).toBeInstanceOf(Date);
    expect(permissionsOf(permissions)).toEqual(["users:read"]);
  });

  describe.each(MODES)("through $name", (mode) => {
    it("shows a user only their own row", async () => {
      const alice = await newUser();
      const bob = await newUser();
      const seen = await mode.run(asUser(alice.id), (db) => db.select({ id: users.id }).from(users));
      expect(seen).toEqual([{ id: alice.id }]);
      expect(await mode.run(asUser(alice.id), (db) => selectUser(db, { id: bob.id }))).toEqual([]);
    });

    it("lets a user update only their own row", async () => {
      const alice = await newUser();
      const bob = await newUser();
      const updated = await mode.run(asUser(alice.id), (db) =>
        recordUserChanges(db, { id: bob.id, changes: { displayName: "pwned" } }),
      );
      expect(updated).toEqual([]);
      expect((await asActor(db, SYSTEM, (tx) => getUser(tx, { id: bob.id })))?.displayName).toBeNull();
      const own = await mode.run(asUser(alice.id), (db) =>
        recordUserChanges(db, { id: alice.id, changes: { displayName: "Alice" } }),
      );
      expect(firstRow(own)?.displayName).toBe("Alice");
    });

    it("stops a user from raising their own role even with a raw statement", async () => {
      const alice = await newUser();
      await expect(
        mode.run(asUser(alice.id), (db) => db.update(users).set({ role: "admin" }).where(eq(users.id, alice.id))),
      ).rejects.toThrow();
      expect((await asActor(db, SYSTEM, (tx) => getUser(tx, { id: alice.id })))?.role).toBe("user");
    });

    it("lets no plain user create users or grant permissions", async () => {
      const alice = await newUser();
      await expect(
        mode.run(asUser(alice.id), (db) =>
          db.insert(users).values({ email: `${uniqueName()}@example.com`, username: uniqueName(), passwordHash: "!" }),
        ),
      ).rejects.toThrow();
      await expect(
        mode.run(asUser(alice.id), (db) =>
          db.insert(userPermissions).values({ userId: alice.id, permission: "users:read" }),
        ),
      ).rejects.toThrow();
      expect(await asActor(db, SYSTEM, (tx) => listPermissions(tx, { userId: alice.id }))).toEqual([]);
    });

    it("gives administrators every row", async () => {
      const alice = await newUser();
      const admin = await newUser();
      const seen = await mode.run(asUser(admin.id, "admin"), (db) => selectUser(db, { id: alice.id }));
      expect(firstRow(seen)?.id).toBe(alice.id);
    });

    it("honours a delegated permission the same way the routes do", async () => {
      const alice = await newUser();
      const reader = await newUser();
      const actor: Actor = { kind: "user", userId: reader.id, role: "user", permissions: ["users:read"] };
      expect(firstRow(await mode.run(actor, (db) => selectUser(db, { id: alice.id })))?.id).toBe(alice.id);
      expect(await mode.run(actor, (db) => recordUserChanges(db, { id: alice.id, changes: { bio: "x" } }))).toEqual([]);
    });

    it("reads a user's permissions only where the user may be read", async () => {
      const alice = await newUser();
      const bob = await newUser();
      await asActor(db, SYSTEM, (tx) =>
        tx
          .insert(userPermissions)
          .values({ userId: bob.id, permission: "users:read" })
          .then(() => undefined),
      );
      expect(await mode.run(asUser(alice.id), (db) => selectPermissions(db, { userId: bob.id }))).toEqual([]);
      expect(await mode.run(asUser(bob.id), (db) => selectPermissions(db, { userId: bob.id }))).toEqual([
        { permission: "users:read" },
      ]);
    });
  });
});
