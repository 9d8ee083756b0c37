import pg from "pg";
import { describe, expect, inject, it } from "vitest";

// The app's DATABASE_URL is the stack's PgBouncer (transaction mode, stack/pgbouncer.ts);
// DATABASE_URL_UNPOOLED is Postgres itself, for migrations and admin scripts.
describe("the stack's pooled endpoint", () => {
  it("is not Postgres itself, and reaches the same database", async () => {
    const { DATABASE_URL: pooled = "", DATABASE_URL_UNPOOLED: direct = "" } = inject("stack");
    expect(new URL(pooled).port).not.toBe(new URL(direct).port);
    const client = new pg.Client({ connectionString: pooled });
    await client.connect();
    try {
      const { rows } = await client.query<{ port: number }>("select inet_server_port() as port");
      expect(String(rows[0]?.port)).toBe(new URL(direct).port);
    } finally {
      await client.end();
    }
  });

  it("serves 150 connections at once (more than Postgres's 100 slots) with at most 90 backends", async () => {
    const url = inject("stack").DATABASE_URL ?? "";
    const clients = Array.from({ length: 150 }, () => new pg.Client({ connectionString: url }));
    try {
      await Promise.all(clients.map((client) => client.connect()));
      const pids = await Promise.all(
        clients.map(async (client) => {
          // Each transaction holds its backend a moment, so the burst overlaps.
          const { rows } = await client.query<{ pid: number }>("select pg_backend_pid() as pid, pg_sleep(0.05)");
          return rows[0]?.pid;
        }),
      );
      expect(pids.every((pid) => typeof pid === "number")).toBe(true);
      expect(new Set(pids).size).toBeLessThanOrEqual(90);
    } finally {
      await Promise.all(clients.map((client) => client.end().catch(() => {})));
    }
  });

  it("lends a backend per transaction: two clients connected at once take turns on one", async () => {
    const url = inject("stack").DATABASE_URL ?? "";
    // In session mode two connected clients never share a backend. In transaction mode the backend
    // goes back to the pool when a transaction ends, and the next client's is served by it unless
    // another client took it meanwhile (other test files share the pool): one round in 20 suffices.
    const first = new pg.Client({ connectionString: url });
    const second = new pg.Client({ connectionString: url });
    await Promise.all([first.connect(), second.connect()]);
    const pid = async (client: pg.Client) =>
      (await client.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]?.pid;
    try {
      let shared = 0;
      for (let round = 0; round < 20; round++) {
        if ((await pid(first)) === (await pid(second))) shared += 1;
      }
      expect(shared).toBeGreaterThan(0);
    } finally {
      await Promise.all([first.end(), second.end()]);
    }
  });
});
