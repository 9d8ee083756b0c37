import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { inArray, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client.ts";
import { auditEvents } from "../../src/db/schema/audit.ts";
import { purgeAuditLog } from "../../src/processor/sweeper.ts";
import worker from "../../workers/processor/index.ts";
import { asSystem, config, newUser, testEnv } from "./helpers.ts";

// The audit log's retention: the sweeper deletes, as the system, the security events older than
// AUDIT_RETENTION_DAYS, in bounded batches, and keeps the rest.
const handle = openDatabase(config.database);
afterAll(() => handle.close());

const DAY = 24 * 60 * 60 * 1000;

/** Records one event per age (in days), about a new user; returns their ids, in the ages' order. */
async function eventsAged(days: number[]): Promise<number[]> {
  const target = await newUser();
  const ids: number[] = [];
  for (const age of days) {
    // Written with its age straight away: nobody may update an event (migration 0030), not even the system.
    const [row] = await asSystem((tx) =>
      tx
        .insert(auditEvents)
        .values({
          action: "user.login_failed",
          outcome: "failure",
          targetUserId: target,
          ip: "192.0.2.9",
          occurredAt: sql`now() - make_interval(days => ${age})`,
        })
        .returning({ id: auditEvents.id }),
    );
    if (!row) throw new Error("not recorded");
    ids.push(row.id);
  }
  return ids;
}

const remaining = async (ids: number[]) =>
  (await asSystem((tx) => tx.select({ id: auditEvents.id }).from(auditEvents).where(inArray(auditEvents.id, ids))))
    .map((row) => row.id)
    .sort((a, b) => a - b);

describe("the audit log's retention (sweeper)", () => {
  it("deletes the events older than AUDIT_RETENTION_DAYS and keeps the newer ones", async () => {
    const [old, recent] = await eventsAged([40, 20]);
    if (old === undefined || recent === undefined) throw new Error("no events");
    // The cron as the runtime runs it, with a retention of 30 days: the default (365) would keep both.
    const controller = createScheduledController({ scheduledTime: new Date(), cron: "*/10 * * * *" });
    await worker.scheduled(controller, { ...testEnv, AUDIT_RETENTION_DAYS: "30" }, createExecutionContext());
    expect(await remaining([old, recent])).toEqual([recent]);
  });

  it("deletes in bounded batches, oldest first, and the next run goes on", async () => {
    // Older than anything another test leaves (its own cutoff is 45 days back): five events, 46 to 50 days old.
    const ids = await eventsAged([50, 49, 48, 47, 46]);
    const before = new Date(Date.now() - 45 * DAY);
    const policy = { auditBatch: 2, auditBatchesPerRun: 2 };
    expect(await purgeAuditLog(handle.db, before, policy)).toBe(4);
    // The youngest of the five is left for the next run.
    expect(await remaining(ids)).toEqual([ids[4]]);
    expect(await purgeAuditLog(handle.db, before, policy)).toBe(1);
    expect(await remaining(ids)).toEqual([]);
  });
});
