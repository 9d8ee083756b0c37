import { eq, sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { directHttpDatabase } from "../../bench/direct-http.ts";
import { users } from "../../src/db/schema/users.ts";

// The search benchmark's "direct" baseline runs the service's HTTP-mode batches over one
// node-postgres connection: it must behave as Neon's HTTP transaction does for the code under
// measurement (one transaction per batch, results mapped by drizzle as from Neon, read-only).

const pool = new pg.Pool({ connectionString: inject("stack").DATABASE_URL_UNPOOLED, max: 1 });
const http = directHttpDatabase(pool);
afterAll(() => pool.end());

const asSystem = sql`select set_config('app.role', 'system', true)`;
const username = () => `direct-http-${crypto.randomUUID().slice(0, 8)}`;

describe("directHttpDatabase", () => {
  it("runs a batch as one transaction and maps rows as drizzle's neon-http driver does", async () => {
    const name = username();
    const [, inserted, found] = await http.transaction((db) => [
      db.execute(asSystem),
      db
        .insert(users)
        .values({ email: `${name}@example.com`, username: name, passwordHash: "!" })
        .returning({ id: users.id }),
      db.select({ username: users.username, createdAt: users.createdAt }).from(users).where(eq(users.username, name)),
    ]);
    expect(inserted).toHaveLength(1);
    expect(found).toEqual([{ username: name, createdAt: expect.any(Date) }]);
  });

  it("rolls the whole batch back when a statement fails", async () => {
    const name = username();
    await expect(
      http.transaction((db) => [
        db.execute(asSystem),
        db.insert(users).values({ email: `${name}@example.com`, username: name, passwordHash: "!" }),
        db.execute(sql`select 1 / 0`),
      ]),
    ).rejects.toMatchObject({ code: "22012" });
    const [, found] = await http.transaction((db) => [
      db.execute(asSystem),
      db.select({ id: users.id }).from(users).where(eq(users.username, name)),
    ]);
    expect(found).toEqual([]);
  });

  it("starts a read-only transaction when asked", async () => {
    const name = username();
    await expect(
      http.transaction(
        (db) => [
          db.execute(asSystem),
          db.insert(users).values({ email: `${name}@example.com`, username: name, passwordHash: "!" }),
        ],
        { readOnly: true },
      ),
    ).rejects.toMatchObject({ code: "25006" });
  });
});
