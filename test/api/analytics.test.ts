import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { createDocument } from "../../src/db/queries/documents.ts";
import { insertUser } from "../../src/db/queries/users.ts";
import { documents } from "../../src/db/schema/documents.ts";
import { searchClicks, searchQueries } from "../../src/db/schema/search.ts";
import { users } from "../../src/db/schema/users.ts";
import { promote, signedIn, signedInAdmin, uniqueName } from "../auth-helpers.ts";
import { created, rawUpload } from "../document-helpers.ts";
import { api, asSystem, eventually, expectProblem } from "../helpers.ts";
import { search } from "../search-helpers.ts";

type Auth = Record<string, string>;

async function report<T>(auth: Auth, path: string, range?: { from: Date; to: Date }): Promise<T> {
  const query = range
    ? `?${new URLSearchParams({ from: range.from.toISOString(), to: range.to.toISOString(), limit: "100" })}`
    : "";
  const res = await api(`${path}${query}`, { headers: auth });
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const click = (auth: Auth, body: unknown) =>
  api("/search/clicks", {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify(body),
  });

/** The recorded search with this id, once the background write has landed. */
const recorded = (id: string) =>
  eventually(async () => {
    const [row] = await asSystem((tx) => tx.select().from(searchQueries).where(eq(searchQueries.id, id)));
    return row;
  });

/** A day of its own in the past, which no other test writes to. */
function pastDay(): { from: Date; to: Date } {
  const day = Date.UTC(2001, 0, 1) + Math.floor(Math.random() * 7000) * 86_400_000;
  return { from: new Date(day), to: new Date(day + 86_400_000) };
}

const REPORTS = [
  "/analytics/search/top-queries",
  "/analytics/search/zero-results",
  "/analytics/search/latency",
  "/analytics/search/click-through",
  "/analytics/metrics",
];

describe("recording searches", () => {
  it("records each search: normalised text, filters, result count, latency, cache hit, user", async () => {
    const user = await signedIn();
    const doc = await created(rawUpload(user.auth, "body", "text/plain", { title: "Heron watch" }));
    const first = await search(user.auth, { q: "  HERON   Watch ", tags: "birds", sort: "recent" });
    const row = await recorded(first.body.queryId);
    expect(row).toMatchObject({
      userId: user.user.id,
      query: "heron watch",
      filters: { tags: ["birds"], sort: "recent" },
      resultCount: 0,
      cacheHit: false,
    });
    expect(row.latencyMs).toBeGreaterThanOrEqual(0);

    const found = await search(user.auth, { q: "heron" });
    expect((await recorded(found.body.queryId)).resultCount).toBe(1);
    expect(found.body.data[0]?.document.id).toBe(doc.id);
  });

  it("records a click once per search and result, only on the user's own searches of readable documents", async () => {
    const user = await signedIn();
    const other = await signedIn();
    const doc = await created(rawUpload(user.auth, "body", "text/plain", { title: "Egret census" }));
    const foreign = await created(rawUpload(other.auth, "body", "text/plain", { title: "Egret census" }));
    const { body } = await search(user.auth, { q: "egret" });
    await recorded(body.queryId);

    expect((await click(user.auth, { queryId: body.queryId, documentId: doc.id, position: 1 })).status).toBe(204);
    expect((await click(user.auth, { queryId: body.queryId, documentId: doc.id, position: 1 })).status).toBe(204);
    const clicks = await asSystem((tx) => tx.select().from(searchClicks).where(eq(searchClicks.queryId, body.queryId)));
    expect(clicks).toEqual([expect.objectContaining({ documentId: doc.id, position: 1 })]);

    await expectProblem(await click(other.auth, { queryId: body.queryId, documentId: foreign.id, position: 1 }), 404);
    await expectProblem(await click(user.auth, { queryId: body.queryId, documentId: foreign.id, position: 2 }), 404);
    await expectProblem(await click(user.auth, { queryId: crypto.randomUUID(), documentId: doc.id, position: 1 }), 404);
    const invalid = await expectProblem(
      await click(user.auth, { queryId: body.queryId, documentId: doc.id, position: 0, extra: 1 }),
      400,
    );
    expect(invalid.errors?.map((e) => e.pointer).sort()).toEqual(["/", "/position"]);
  });
});

describe("the analytics endpoints", () => {
  it("need analytics:read (or an admin)", async () => {
    const user = await signedIn();
    for (const path of REPORTS) {
      await expectProblem(await api(path, { headers: user.auth }), 403);
      await expectProblem(await api(path), 401);
    }
    const analyst = await signedIn();
    await promote(analyst.user.id, { permissions: ["analytics:read"] });
    const admin = await signedInAdmin();
    for (const path of REPORTS) {
      expect((await api(path, { headers: analyst.auth })).status, path).toBe(200);
      expect((await api(path, { headers: admin.auth })).status, path).toBe(200);
    }
  });

  it("refuse a range that is backwards or longer than a year", async () => {
    const admin = await signedInAdmin();
    const now = Date.now();
    for (const [from, to] of [
      [now, now - 1000],
      [now - 400 * 86_400_000, now],
    ]) {
      const query = new URLSearchParams({
        from: new Date(from as number).toISOString(),
        to: new Date(to as number).toISOString(),
      });
      await expectProblem(await api(`/analytics/search/latency?${query}`, { headers: admin.auth }), 400);
    }
    await expectProblem(await api("/analytics/metrics?from=last-week", { headers: admin.auth }), 400);
  });

  it("report top queries, zero-result queries, latency percentiles and click-through over a range", async () => {
    const admin = await signedInAdmin();
    const range = pastDay();
    const [a, b] = [await signedIn(), await signedIn()];
    const doc = await created(rawUpload(a.auth, "body", "text/plain", { title: "Report fixture" }));
    const at = (minutes: number) => new Date(range.from.getTime() + minutes * 60_000);
    // Ten searches on that day, as the search route records them.
    const rows = [
      { userId: a.user.id, query: "invoice", resultCount: 4, latencyMs: 10, cacheHit: false },
      { userId: a.user.id, query: "invoice", resultCount: 4, latencyMs: 2, cacheHit: true },
      { userId: b.user.id, query: "invoice", resultCount: 2, latencyMs: 12, cacheHit: false },
      { userId: b.user.id, query: "contract", resultCount: 1, latencyMs: 20, cacheHit: false },
      { userId: a.user.id, query: "contract", resultCount: 1, latencyMs: 3, cacheHit: true },
      { userId: a.user.id, query: "invoise", resultCount: 0, latencyMs: 30, cacheHit: false },
      { userId: b.user.id, query: "invoise", resultCount: 0, latencyMs: 40, cacheHit: false },
      { userId: b.user.id, query: "zzz", resultCount: 0, latencyMs: 50, cacheHit: false },
      { userId: a.user.id, query: "", resultCount: 7, latencyMs: 60, cacheHit: false },
      { userId: a.user.id, query: "memo", resultCount: 3, latencyMs: 70, cacheHit: false },
    ].map((row, i) => ({ ...row, id: crypto.randomUUID(), filters: {}, createdAt: at(i) }));
    await asSystem(async (tx) => {
      await tx.insert(searchQueries).values(rows);
      // Two of the seven searches with results were followed by clicks (one of them twice).
      await tx.insert(searchClicks).values([
        { queryId: rows[0]?.id as string, queryCreatedAt: at(0), documentId: doc.id, position: 1, createdAt: at(30) },
        { queryId: rows[3]?.id as string, queryCreatedAt: at(3), documentId: doc.id, position: 2, createdAt: at(31) },
      ]);
    });

    const top = await report<{ data: unknown[] }>(admin.auth, "/analytics/search/top-queries", range);
    expect(top.data).toEqual([
      { query: "invoice", searches: 3, users: 2, averageResults: 3.3 },
      { query: "contract", searches: 2, users: 2, averageResults: 1 },
      { query: "invoise", searches: 2, users: 2, averageResults: 0 },
      { query: "memo", searches: 1, users: 1, averageResults: 3 },
      { query: "zzz", searches: 1, users: 1, averageResults: 0 },
    ]);

    const zero = await report<{ data: unknown[] }>(admin.auth, "/analytics/search/zero-results", range);
    expect(zero.data).toEqual([
      { query: "invoise", searches: 2, lastSearchedAt: at(6).toISOString() },
      { query: "zzz", searches: 1, lastSearchedAt: at(7).toISOString() },
    ]);

    const latency = await report<Record<string, unknown>>(admin.auth, "/analytics/search/latency", range);
    expect(latency).toMatchObject({
      // Latencies 2, 3, 10, 12, 20, 30, 40, 50, 60, 70: interpolated percentiles.
      all: { searches: 10, p50: 25, p95: expect.closeTo(65.5, 6), p99: expect.closeTo(69.1, 6) },
      cacheHit: { searches: 2, p50: 2.5, p95: expect.closeTo(2.95, 6), p99: expect.closeTo(2.99, 6) },
      cacheMiss: { searches: 8, p50: 35 },
    });

    const ctr = await report<Record<string, unknown>>(admin.auth, "/analytics/search/click-through", range);
    expect(ctr).toMatchObject({
      searches: 10,
      searchesWithResults: 7,
      searchesWithClicks: 2,
      clickThroughRate: 2 / 7,
      clicks: 2,
      meanClickPosition: 1.5,
    });
  });

  it("report users, documents and searches per day", async () => {
    const admin = await signedInAdmin();
    const range = pastDay();
    const at = (hours: number) => new Date(range.from.getTime() + hours * 3_600_000);
    await asSystem(async (tx) => {
      const made: string[] = [];
      for (const hours of [1, 2, 25]) {
        const name = uniqueName("metrics");
        const user = await insertUser(tx, { email: `${name}@example.com`, username: name, passwordHash: "x" });
        await tx
          .update(users)
          .set({ createdAt: at(hours), lastLoginAt: at(hours + 1) })
          .where(eq(users.id, user.id));
        made.push(user.id);
      }
      for (const [i, hours] of [3, 4].entries()) {
        const id = crypto.randomUUID();
        const owner = made[0] as string;
        await createDocument(tx, {
          id,
          ownerId: owner,
          title: `metrics ${i}`,
          tags: [],
          file: {
            storageKey: `documents/${id}/x`,
            contentType: "text/plain",
            sizeBytes: 10,
            sha256: "0".repeat(64),
            filename: null,
          },
        });
        await tx
          .update(documents)
          .set({ createdAt: at(hours) })
          .where(eq(documents.id, id));
      }
      await tx.insert(searchQueries).values(
        [5, 6, 7].map((hours) => ({
          userId: made[0] as string,
          query: "x",
          filters: {},
          resultCount: 0,
          latencyMs: 1,
          cacheHit: false,
          createdAt: at(hours),
        })),
      );
      return made;
    });

    const day = range.from.toISOString().slice(0, 10);
    const metrics = await report<{
      users: { total: number; active: number; newPerDay: unknown[] };
      documents: Record<string, number> & { byType: { count: number; bytes: number }[]; uploadedPerDay: unknown[] };
      searches: { perDay: unknown[] };
    }>(admin.auth, "/analytics/metrics", range);
    // The third user registered (and logged in) the next day.
    expect(metrics.users.newPerDay).toEqual([{ day, count: 2 }]);
    expect(metrics.users.active).toBe(2);
    expect(metrics.users.total).toBeGreaterThanOrEqual(3);
    expect(metrics.documents.uploadedPerDay).toEqual([{ day, count: 2 }]);
    expect(metrics.searches.perDay).toEqual([{ day, count: 3 }]);

    // Totals are of all documents now; their parts add up.
    const { documents: docs } = metrics;
    expect(docs.count).toBeGreaterThanOrEqual(2);
    expect(docs.byType.reduce((sum, t) => sum + t.count, 0)).toBe(docs.count);
    expect(docs.byType.reduce((sum, t) => sum + t.bytes, 0)).toBe(docs.bytes);
    expect((docs.processed ?? 0) + (docs.failed ?? 0) + (docs.quarantined ?? 0) + (docs.inProgress ?? 0)).toBe(
      docs.count,
    );
  });
});
