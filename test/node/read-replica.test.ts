import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { READ_ONLY } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import type { ReplicaFallback } from "../../src/db/replica.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { type Stack, startStack } from "../../stack/stack.ts";

// The read routing (src/db/replica.ts) against a real streaming replica of the stack's Postgres
// (stack/postgres-replica.ts), over the same Neon HTTP stand-in the workers use. A marker table
// written on the primary while the replica's replay is paused tells which server answered.

let stack: Stack;
let root: string;
let primary: pg.Client;

const MARKER = "replica_routing_marker";

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "techcorp-replica-"));
  stack = await startStack({
    dataDir: root,
    mode: "test",
    redis: "optional",
    virusScan: "optional",
    pooler: "optional",
    readReplica: true,
  });
  primary = new pg.Client({ connectionString: stack.postgres?.adminUrl });
  await primary.connect();
  await primary.query(`create table ${MARKER} (id int primary key)`);
  await primary.query(`grant select, insert on ${MARKER} to public`);
  await stack.replica?.catchUp();
}, 180_000);

afterAll(async () => {
  await primary?.end();
  await stack?.stop();
  await rm(root, { recursive: true, force: true });
});

function replica() {
  if (!stack.replica) throw new Error("the stack runs no replica");
  return stack.replica;
}

/** The app's database handle with the replica configured, recording how reads fell back. */
function handle(maxLagSeconds: number) {
  // The two variables without a default come from wrangler.toml's [vars] in the workers.
  const config = loadApiConfig({
    ...stack.env,
    MAX_UPLOAD_BYTES: "104857600",
    PBKDF2_ITERATIONS: "100000",
    DATABASE_READ_MAX_LAG_SECONDS: String(maxLagSeconds),
  });
  if (!config.readReplica) throw new Error("DATABASE_READ_URL is not set");
  const fallbacks: ReplicaFallback[] = [];
  const database = openDatabase(config.database, {
    replica: { ...config.readReplica, maxLagSeconds },
    onReplicaFallback: (fallback) => fallbacks.push(fallback),
  });
  return { database, fallbacks };
}

async function markers(database: ReturnType<typeof handle>["database"]): Promise<number[]> {
  const [result] = await database.staleReads.transaction(
    (db) => [db.execute<{ id: number }>(sql.raw(`select id from ${MARKER} order by id`))],
    READ_ONLY,
  );
  return result.rows.map((row) => Number(row.id));
}

let next = 1;
const writeOnPrimary = async () => {
  const id = next++;
  await primary.query(`insert into ${MARKER} (id) values ($1)`, [id]);
  return id;
};

describe("reads routed to the read replica", () => {
  beforeEach(async () => {
    await replica().start();
    await replica().resumeReplay();
    await replica().catchUp();
  });

  it("are served by the replica: a row the replica has not replayed yet is not seen, and is once replayed", async () => {
    const { database, fallbacks } = handle(3600);
    await replica().pauseReplay();
    const id = await writeOnPrimary();
    try {
      expect(await markers(database)).not.toContain(id);
      // The same handle's primary sees it at once.
      const [onPrimary] = await database.http.transaction(
        (db) => [db.execute<{ id: number }>(sql.raw(`select id from ${MARKER} where id = ${id}`))],
        READ_ONLY,
      );
      expect(onPrimary.rows).toHaveLength(1);
      expect(fallbacks).toEqual([]);
      await replica().resumeReplay();
      await replica().catchUp();
      expect(await markers(database)).toContain(id);
    } finally {
      await database.close();
    }
  });

  it("measure the replica's lag, and go to the primary when it exceeds the bound", async () => {
    const { database, fallbacks } = handle(1);
    await replica().pauseReplay();
    const id = await writeOnPrimary();
    try {
      // Replay paused: the received WAL waits while the last replayed commit ages past the bound.
      for (let waited = 0; (await replica().lagSeconds()) <= 1.5; waited++) {
        if (waited > 100) throw new Error("the replica's lag never grew");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(await replica().lagSeconds()).toBeGreaterThan(1);
      expect(await markers(database)).toContain(id);
      expect(fallbacks).toHaveLength(1);
      expect(fallbacks[0]?.outcome).toBe("lagging");
      expect(fallbacks[0]?.lagSeconds).toBeGreaterThan(1);
    } finally {
      await database.close();
    }
  });

  it("fall back to the primary when the replica is down", async () => {
    const { database, fallbacks } = handle(3600);
    const id = await writeOnPrimary();
    await replica().stop();
    try {
      expect(await markers(database)).toContain(id);
      expect(fallbacks.map((fallback) => fallback.outcome)).toEqual(["unavailable"]);
    } finally {
      await database.close();
    }
  });

  it("never take a write to the replica", async () => {
    const { database, fallbacks } = handle(3600);
    await replica().pauseReplay();
    try {
      // Not read-only: the primary, which accepts it (the standby would refuse any write).
      await database.staleReads.transaction((db) => [db.execute(sql.raw(`insert into ${MARKER} (id) values (1000)`))]);
      const found = await primary.query(`select 1 from ${MARKER} where id = 1000`);
      expect(found.rowCount).toBe(1);
      expect(await markers(database)).not.toContain(1000);
      expect(fallbacks).toEqual([]);
    } finally {
      await database.close();
    }
  });
});
