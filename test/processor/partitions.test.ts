import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { inArray, type SQL, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { type Actor, asActor, SYSTEM, type Transaction } from "../../src/db/actor.ts";
import { openDatabase } from "../../src/db/client.ts";
import { createWebhook, pendingDeliveries, storeNotification } from "../../src/db/queries/notifications.ts";
import {
  createMonthPartition,
  dropMonthPartition,
  monthStart,
  PARTITION_KEYS,
  type PartitionedTable,
} from "../../src/db/queries/partitions.ts";
import { auditEvents } from "../../src/db/schema/audit.ts";
import { notifications, webhookDeliveries } from "../../src/db/schema/notifications.ts";
import { searchClicks, searchQueries } from "../../src/db/schema/search.ts";
import { MONTHS_AHEAD, maintainPartitions } from "../../src/processor/partitions.ts";
import worker from "../../workers/processor/index.ts";
import { config, eventually, newUser, notificationsOf, someoneWaits, testEnv, uploadedDocument } from "./helpers.ts";

// The event tables partitioned by month (migration 0038): rows land in their month's partition
// through the parent, under the parent's row-level security; the sweeper makes the months ahead and
// drops whole months past the retention (src/processor/partitions.ts).
const handle = openDatabase(config.database);
afterAll(() => handle.close());

const DAY = 24 * 60 * 60 * 1000;
const TABLES = Object.keys(PARTITION_KEYS) as PartitionedTable[];
/** Parents before the tables whose foreign keys name them. */
const PARENTS_FIRST: PartitionedTable[] = [
  "search_queries",
  "search_clicks",
  "notifications",
  "webhook_deliveries",
  "audit_events",
];

const as = <T>(actor: Actor, work: (tx: Transaction) => Promise<T>) => asActor(handle.db, actor, work);
const system = <T>(work: (tx: Transaction) => Promise<T>) => as(SYSTEM, work);
const user = (userId: string): Actor => ({ kind: "user", userId, role: "user", permissions: [] });

const monthName = (table: string, at: Date) =>
  `${table}_p${at.getUTCFullYear()}${String(at.getUTCMonth() + 1).padStart(2, "0")}`;

/** Where the rows of `table` matching `where` are stored: `tableoid::regclass`, read through the parent. */
async function partitionsOf(table: PartitionedTable, where: SQL): Promise<string[]> {
  const result = await system((tx) =>
    tx.execute<{ partition: string }>(
      sql`select tableoid::regclass::text as partition from ${sql.identifier(table)} where ${where}`,
    ),
  );
  return result.rows.map((row) => row.partition);
}

async function present(name: string): Promise<boolean> {
  const result = await system((tx) =>
    tx.execute<{ present: boolean }>(sql`select to_regclass(${name}) is not null as present`),
  );
  return result.rows[0]?.present === true;
}

/** A user with a verified webhook, a document to click, and the sweeper's months made for `now`. */
async function setting() {
  const userId = await newUser();
  const { documentId } = await uploadedDocument("partitioned", "text/plain", { store: false, ownerId: userId });
  const webhook = await system(async (tx) => {
    const row = await createWebhook(tx, {
      userId,
      url: "https://receiver.example/hook",
      secretCiphertext: "x",
      events: [],
    });
    await tx.execute(sql`update webhooks set verified_at = now() where id = ${row.id}`);
    return row;
  });
  return { userId, documentId, webhookId: webhook.id };
}

/** One row in every partitioned table at `at`: a search and its click, a notification and its delivery, a security event. */
async function eventsAt(at: Date, context: Awaited<ReturnType<typeof setting>>) {
  const searchId = crypto.randomUUID();
  return system(async (tx) => {
    await tx.insert(searchQueries).values({
      id: searchId,
      userId: context.userId,
      query: "partitioned",
      resultCount: 1,
      latencyMs: 1,
      cacheHit: false,
      createdAt: at,
    });
    await tx
      .insert(searchClicks)
      .values({ queryId: searchId, queryCreatedAt: at, documentId: context.documentId, position: 1 });
    const [notification] = await tx
      .insert(notifications)
      .values({
        userId: context.userId,
        type: "document.ready",
        title: "t",
        body: "b",
        eventId: crypto.randomUUID(),
        createdAt: at,
      })
      .returning();
    if (!notification) throw new Error("no notification");
    const [delivery] = await pendingDeliveries(tx, { notification, webhookIds: [context.webhookId] });
    if (!delivery) throw new Error("no delivery");
    const [event] = await tx
      .insert(auditEvents)
      .values({ action: "user.logged_out", targetUserId: context.userId, occurredAt: at })
      .returning({ id: auditEvents.id });
    if (!event) throw new Error("no event");
    return { searchId, notificationId: notification.id, deliveryId: delivery.id, auditId: event.id };
  });
}

type Events = Awaited<ReturnType<typeof eventsAt>>;

/** Where each of `events` is stored, per table ([] once it is gone). */
const whereAre = async (events: Events) => ({
  search_queries: await partitionsOf("search_queries", inArray(searchQueries.id, [events.searchId])),
  search_clicks: await partitionsOf("search_clicks", inArray(searchClicks.queryId, [events.searchId])),
  notifications: await partitionsOf("notifications", inArray(notifications.id, [events.notificationId])),
  webhook_deliveries: await partitionsOf("webhook_deliveries", inArray(webhookDeliveries.id, [events.deliveryId])),
  audit_events: await partitionsOf("audit_events", inArray(auditEvents.id, [events.auditId])),
});

const everywhere = (name: (table: PartitionedTable) => string) =>
  Object.fromEntries(TABLES.map((table) => [table, [name(table)]]));

describe("the event tables, partitioned by month", () => {
  it("stores each row in its month's partition, and a row of a month not made in the DEFAULT partition", async () => {
    const now = new Date();
    // The sweeper's months, as any run makes them (the configured retentions drop nothing recent).
    await maintainPartitions(handle.db, now, config.retention);
    const context = await setting();
    expect(await whereAre(await eventsAt(now, context))).toEqual(everywhere((table) => monthName(table, now)));
    // A month no run made (long before any retention): the DEFAULT partition takes it.
    expect(await whereAre(await eventsAt(new Date("1997-06-10T12:00:00Z"), context))).toEqual(
      everywhere((table) => `${table}_default`),
    );
  });

  it("applies the parent's policies through the parent, and forced row-level security admits nothing read from a partition", async () => {
    const now = new Date();
    await maintainPartitions(handle.db, now, config.retention);
    const mine = await setting();
    const theirs = await setting();
    const own = await eventsAt(now, mine);
    const other = await eventsAt(now, theirs);
    const visible = await as(user(mine.userId), async (tx) => ({
      audit: (
        await tx
          .select({ id: auditEvents.id })
          .from(auditEvents)
          .where(inArray(auditEvents.id, [own.auditId, other.auditId]))
      ).map((row) => row.id),
      notifications: (
        await tx
          .select({ id: notifications.id })
          .from(notifications)
          .where(inArray(notifications.id, [own.notificationId, other.notificationId]))
      ).map((row) => row.id),
    }));
    expect(visible).toEqual({ audit: [own.auditId], notifications: [own.notificationId] });

    // Read straight from the month's partition: no policy there, forced, so no row for anyone.
    const direct = (actor: Actor, table: PartitionedTable) =>
      as(actor, async (tx) => {
        const result = await tx.execute<{ count: number }>(
          sql`select count(*)::int as count from ${sql.identifier(monthName(table, now))}`,
        );
        return result.rows[0]?.count;
      });
    for (const table of TABLES) {
      expect(await direct(user(mine.userId), table)).toBe(0);
      expect(await direct(SYSTEM, table)).toBe(0);
    }
    // Nor may anyone write there.
    await expect(
      system((tx) =>
        tx.execute(
          sql`insert into ${sql.identifier(monthName("audit_events", now))} (action, occurred_at) values ('user.logged_out', now())`,
        ),
      ),
    ).rejects.toMatchObject({ cause: { code: "42501" } });

    const forced = await system((tx) =>
      tx.execute<{ name: string; enabled: boolean; forced: boolean }>(sql`
        select c.relname as name, c.relrowsecurity as enabled, c.relforcerowsecurity as forced
          from pg_class c
         where c.oid in (${sql.join(
           TABLES.map((table) => sql`${table}::regclass`),
           sql`, `,
         )})
            or c.oid in (select inhrelid from pg_inherits
                          where inhparent in (${sql.join(
                            TABLES.map((table) => sql`${table}::regclass`),
                            sql`, `,
                          )}))`),
    );
    expect(forced.rows.length).toBeGreaterThanOrEqual(TABLES.length * 3);
    expect(forced.rows.filter((row) => !row.enabled || !row.forced)).toEqual([]);
  });

  it("makes this month and the next ones of every table, at the sweeper's clock", async () => {
    // A clock a year ahead: months no other test's rows are in, removed again below.
    const clock = monthStart(new Date(), 12);
    const ahead = Array.from({ length: MONTHS_AHEAD + 1 }, (_, i) => monthStart(clock, i));
    const names = PARENTS_FIRST.flatMap((table) => ahead.map((month) => monthName(table, month)));
    try {
      // Two years kept: at this clock, nothing of today is past it.
      const years = 2 * 365 * DAY;
      const retention = { searchEventsMs: years, notificationsMs: years, webhookDeliveriesMs: years, auditMs: years };
      const report = await maintainPartitions(handle.db, new Date(clock.getTime() + 14 * DAY), retention);
      expect(report.created).toEqual(expect.arrayContaining(names));
      for (const name of names) expect(await present(name)).toBe(true);
      // A second run finds them made.
      const again = await maintainPartitions(handle.db, new Date(clock.getTime() + 14 * DAY), retention);
      expect(again.created.filter((name) => names.includes(name))).toEqual([]);
    } finally {
      for (const table of [...PARENTS_FIRST].reverse()) {
        for (const month of ahead) {
          if (await present(monthName(table, month))) {
            await system((tx) => dropMonthPartition(tx, table, monthName(table, month), 5_000));
          }
        }
      }
    }
  });

  it("drops whole months past each table's retention, children first, and the DEFAULT partition's old rows; newer rows stay", async () => {
    const now = new Date();
    await maintainPartitions(handle.db, now, config.retention);
    const context = await setting();
    // A month long past, made as the sweeper made its months then.
    const old = new Date("1999-03-10T08:00:00Z");
    for (const table of PARENTS_FIRST) await system((tx) => createMonthPartition(tx, table, old));
    const expired = await eventsAt(old, context);
    expect(await whereAre(expired)).toEqual(everywhere((table) => monthName(table, old)));
    // A month never made: its rows are in the DEFAULT partition, deleted there row by row.
    const straggling = await eventsAt(new Date("1999-05-10T08:00:00Z"), context);
    expect(await whereAre(straggling)).toEqual(everywhere((table) => `${table}_default`));
    const recentAt = new Date(now.getTime() - 60_000);
    const recent = await eventsAt(recentAt, context);

    // The cron as the runtime runs it, every retention 30 days.
    const controller = createScheduledController({ scheduledTime: now, cron: "*/10 * * * *" });
    await worker.scheduled(
      controller,
      {
        ...testEnv,
        SEARCH_EVENTS_RETENTION_DAYS: "30",
        NOTIFICATIONS_RETENTION_DAYS: "30",
        WEBHOOK_DELIVERIES_RETENTION_DAYS: "30",
        AUDIT_RETENTION_DAYS: "30",
      },
      createExecutionContext(),
    );

    for (const table of TABLES) expect(await present(monthName(table, old))).toBe(false);
    const gone = Object.fromEntries(TABLES.map((table) => [table, []]));
    expect(await whereAre(expired)).toEqual(gone);
    expect(await whereAre(straggling)).toEqual(gone);
    expect(await whereAre(recent)).toEqual(everywhere((table) => monthName(table, recentAt)));
  });

  it("keeps one notification per event and user: a second store of the event waits for the first, then finds its row", async () => {
    const userId = await newUser();
    const input = { userId, type: "document.ready", title: "t", body: "b", data: {}, eventId: crypto.randomUUID() };
    // The first store stays uncommitted until released: without a unique index, only the lock keeps
    // the second from inserting a row of its own meanwhile.
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let stored = () => {};
    const firstStored = new Promise<void>((resolve) => {
      stored = resolve;
    });
    const first = system(async (tx) => {
      const result = await storeNotification(tx, input);
      stored();
      await held;
      return result;
    });
    await firstStored;
    const second = system((tx) => storeNotification(tx, input));
    const raced = await Promise.race([second.then(() => "finished"), eventually(someoneWaits).then(() => "waits")]);
    release();
    const [one, two] = await Promise.all([first, second]);
    expect(raced).toBe("waits");
    expect([one.created, two.created]).toEqual([true, false]);
    expect(two.notification.id).toBe(one.notification.id);
    expect(await notificationsOf(userId)).toHaveLength(1);
  });
});
