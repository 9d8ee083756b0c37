import { and, count, desc, eq, gte, isNull, lt, type SQL, sql } from "drizzle-orm";
import type { Queryable } from "../actor.ts";
import { documents } from "../schema/documents.ts";
import { projectActivity, projectMembers, projects } from "../schema/projects.ts";
import { searchClicks, searchQueries, suppressedQueries } from "../schema/search.ts";
import { users } from "../schema/users.ts";
import { readableBy, type Viewer } from "./documents.ts";

// The Analytics Service's reports, over every user's rows: the routes check analytics:read and
// run them as the system. Ranges are half-open [from, to); days and months are UTC. Each report is
// built as statements (`select…`) for one HTTP batch, one round trip, and decoded by its `read…`.

export interface Range {
  from: Date;
  to: Date;
}

const inRange = (column: typeof searchQueries.createdAt, range: Range) =>
  and(gte(column, range.from), lt(column, range.to));

export function selectTopQueries(db: Queryable, params: Range & { limit: number }) {
  return db
    .select({
      query: searchQueries.query,
      searches: count(),
      users: sql<number>`count(distinct ${searchQueries.userId})::int`,
      averageResults: sql<number>`round(avg(${searchQueries.resultCount}), 1)::float8`,
    })
    .from(searchQueries)
    .where(and(inRange(searchQueries.createdAt, params), sql`${searchQueries.query} <> ''`))
    .groupBy(searchQueries.query)
    .orderBy(desc(count()), searchQueries.query)
    .limit(params.limit);
}

export function readTopQueries(rows: Awaited<ReturnType<typeof selectTopQueries>>) {
  return rows.map((row) => ({ ...row, users: Number(row.users), averageResults: Number(row.averageResults) }));
}

/** `lastSearchedAt` is ISO 8601 text in UTC, whichever driver mode reads it. */
export function selectZeroResultQueries(db: Queryable, params: Range & { limit: number }) {
  return db
    .select({
      query: searchQueries.query,
      searches: count(),
      lastSearchedAt: sql<string>`to_char(max(${searchQueries.createdAt}) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
    })
    .from(searchQueries)
    .where(
      and(
        inRange(searchQueries.createdAt, params),
        eq(searchQueries.resultCount, 0),
        sql`${searchQueries.query} <> ''`,
      ),
    )
    .groupBy(searchQueries.query)
    .orderBy(desc(count()), searchQueries.query)
    .limit(params.limit);
}

export interface LatencyStats {
  searches: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** Latency percentiles, overall and split by cache hit and miss. */
export function selectSearchLatency(db: Queryable, params: Range) {
  return db
    .select({
      cacheHit: searchQueries.cacheHit,
      searches: count(),
      p50: sql<number | null>`percentile_cont(0.5) within group (order by ${searchQueries.latencyMs})`,
      p95: sql<number | null>`percentile_cont(0.95) within group (order by ${searchQueries.latencyMs})`,
      p99: sql<number | null>`percentile_cont(0.99) within group (order by ${searchQueries.latencyMs})`,
    })
    .from(searchQueries)
    .where(inRange(searchQueries.createdAt, params))
    .groupBy(sql`rollup(${searchQueries.cacheHit})`);
}

export function readSearchLatency(rows: Awaited<ReturnType<typeof selectSearchLatency>>) {
  const stats = (row: (typeof rows)[number] | undefined): LatencyStats => ({
    searches: Number(row?.searches ?? 0),
    p50: row?.p50 == null ? null : Number(row.p50),
    p95: row?.p95 == null ? null : Number(row.p95),
    p99: row?.p99 == null ? null : Number(row.p99),
  });
  // rollup: the row with a null cacheHit is the total.
  return {
    all: stats(rows.find((row) => row.cacheHit === null)),
    cacheHit: stats(rows.find((row) => row.cacheHit === true)),
    cacheMiss: stats(rows.find((row) => row.cacheHit === false)),
  };
}

/** Share of searches (with results) after which a result was opened, and where the clicks landed. */
export function selectClickThrough(db: Queryable, params: Range) {
  return db
    .select({
      searches: sql<number>`count(*)::int`,
      searchesWithResults: sql<number>`count(*) filter (where ${searchQueries.resultCount} > 0)::int`,
      searchesWithClicks: sql<number>`count(*) filter (where exists (select 1 from ${searchClicks} k where k.query_id = ${searchQueries.id}))::int`,
      clicks: sql<number>`(select count(*)::int from ${searchClicks} k join ${searchQueries} q on q.id = k.query_id where q.created_at >= ${params.from} and q.created_at < ${params.to})`,
      meanPosition: sql<
        number | null
      >`(select avg(k.position)::float8 from ${searchClicks} k join ${searchQueries} q on q.id = k.query_id where q.created_at >= ${params.from} and q.created_at < ${params.to})`,
    })
    .from(searchQueries)
    .where(inRange(searchQueries.createdAt, params));
}

export function readClickThrough(rows: Awaited<ReturnType<typeof selectClickThrough>>) {
  const [row] = rows;
  const withResults = Number(row?.searchesWithResults ?? 0);
  const withClicks = Number(row?.searchesWithClicks ?? 0);
  return {
    searches: Number(row?.searches ?? 0),
    searchesWithResults: withResults,
    searchesWithClicks: withClicks,
    clickThroughRate: withResults === 0 ? null : withClicks / withResults,
    clicks: Number(row?.clicks ?? 0),
    meanClickPosition: row?.meanPosition == null ? null : Number(row.meanPosition),
  };
}

/** How many rows of `table` were created on each UTC day of the range (days without any left out). */
function selectCreatedPerDay(
  db: Queryable,
  table: typeof users | typeof documents | typeof searchQueries,
  range: Range,
) {
  const day = sql<string>`to_char(date_trunc('day', ${table.createdAt} at time zone 'UTC'), 'YYYY-MM-DD')`;
  return db
    .select({ day, count: sql<number>`count(*)::int` })
    .from(table)
    .where(and(gte(table.createdAt, range.from), lt(table.createdAt, range.to)))
    .groupBy(sql`1`)
    .orderBy(sql`1`);
}

export function readCreatedPerDay(rows: readonly { day: string; count: number }[]): { day: string; count: number }[] {
  return rows.map((row) => ({ day: row.day, count: Number(row.count) }));
}

/** Users: how many exist and how many logged in within the range (`readUserMetrics` adds new users per day). */
export function selectUserTotals(db: Queryable, params: Range) {
  return db
    .select({
      total: sql<number>`count(*)::int`,
      active: sql<number>`count(*) filter (where ${users.lastLoginAt} >= ${params.from} and ${users.lastLoginAt} < ${params.to})::int`,
    })
    .from(users);
}

export const selectUsersPerDay = (db: Queryable, params: Range) => selectCreatedPerDay(db, users, params);

export function readUserMetrics(
  totalsRows: Awaited<ReturnType<typeof selectUserTotals>>,
  perDay: readonly { day: string; count: number }[],
) {
  const [totals] = totalsRows;
  return {
    total: Number(totals?.total ?? 0),
    active: Number(totals?.active ?? 0),
    newPerDay: readCreatedPerDay(perDay),
  };
}

/**
 * Documents now (not deleted), grouped by type and status (`readDocumentMetrics`: count and bytes,
 * by type, by status, and uploads per day in the range). The current figures come from one grouped
 * scan, so their parts always add up.
 */
export function selectDocumentGroups(db: Queryable) {
  return db
    .select({
      type: documents.contentType,
      status: documents.status,
      count: sql<number>`count(*)::int`,
      bytes: sql<number>`sum(${documents.sizeBytes})::float8`,
    })
    .from(documents)
    .where(isNull(documents.deletedAt))
    .groupBy(documents.contentType, documents.status);
}

export const selectUploadsPerDay = (db: Queryable, params: Range) => selectCreatedPerDay(db, documents, params);

export function readDocumentMetrics(
  groups: Awaited<ReturnType<typeof selectDocumentGroups>>,
  perDay: readonly { day: string; count: number }[],
) {
  const totals = { count: 0, bytes: 0, processed: 0, failed: 0, quarantined: 0, inProgress: 0 };
  const byType = new Map<string, { type: string; count: number; bytes: number }>();
  for (const group of groups) {
    const count = Number(group.count);
    const bytes = Number(group.bytes);
    totals.count += count;
    totals.bytes += bytes;
    if (group.status === "ready") totals.processed += count;
    else if (group.status === "failed") totals.failed += count;
    else if (group.status === "quarantined") totals.quarantined += count;
    else totals.inProgress += count;
    const type = byType.get(group.type) ?? { type: group.type, count: 0, bytes: 0 };
    type.count += count;
    type.bytes += bytes;
    byType.set(group.type, type);
  }
  return {
    ...totals,
    byType: [...byType.values()].sort((a, b) => b.count - a.count || a.type.localeCompare(b.type)),
    uploadedPerDay: readCreatedPerDay(perDay),
  };
}

export const selectSearchesPerDay = (db: Queryable, params: Range) => selectCreatedPerDay(db, searchQueries, params);

// The project a subquery is about, qualified: in the select list of a one-table query drizzle names
// columns bare, and a bare "id" inside a subquery would be the subquery's own table's.
const projectRow = sql`${projects}.${sql.identifier(projects.id.name)}`;

/**
 * Projects now: live ones (not deleted), of them archived ones, and active ones: live projects
 * (archived included) with at least one entry in their activity feed within the range. Any change
 * to a project, its members, invitations or documents writes one (migration 0026).
 */
export function selectProjectTotals(db: Queryable, params: Range) {
  return db
    .select({
      total: sql<number>`count(*)::int`,
      archived: sql<number>`count(*) filter (where ${projects.archivedAt} is not null)::int`,
      active: sql<number>`count(*) filter (where exists (
        select 1 from ${projectActivity} a
         where a.project_id = ${projectRow} and a.created_at >= ${params.from} and a.created_at < ${params.to}))::int`,
    })
    .from(projects)
    .where(isNull(projects.deletedAt));
}

/** How many projects `selectLargestProjects` lists. */
export const LARGEST_PROJECTS = 20;

/**
 * The live projects holding the most bytes, largest first (then by slug), at most
 * `LARGEST_PROJECTS`, with their documents (not deleted), bytes and members. Documents and bytes
 * are the project's usage as its storage quota reads it (`project_storage_usage`, migration 0027):
 * the distinct objects of every version of those documents, so a restored version, which shares
 * its object, adds nothing, and an older version still stored counts.
 */
export function selectLargestProjects(db: Queryable) {
  const usage = db
    .select({
      documents: sql<number>`u.documents::int`.as("documents"),
      bytes: sql<number>`u.bytes::float8`.as("bytes"),
    })
    .from(sql`project_storage_usage(${projectRow}) u`)
    .as("usage");
  return db
    .select({
      id: projects.id,
      slug: projects.slug,
      name: projects.name,
      documents: usage.documents,
      bytes: usage.bytes,
      members: sql<number>`(select count(*)::int from ${projectMembers} m where m.project_id = ${projectRow})`,
    })
    .from(projects)
    .crossJoinLateral(usage)
    .where(isNull(projects.deletedAt))
    .orderBy(desc(usage.bytes), projects.slug)
    .limit(LARGEST_PROJECTS);
}

export function readProjectMetrics(
  totalsRows: Awaited<ReturnType<typeof selectProjectTotals>>,
  largest: Awaited<ReturnType<typeof selectLargestProjects>>,
) {
  const [totals] = totalsRows;
  return {
    total: Number(totals?.total ?? 0),
    archived: Number(totals?.archived ?? 0),
    active: Number(totals?.active ?? 0),
    largest: largest.map((row) => ({
      ...row,
      documents: Number(row.documents),
      bytes: Number(row.bytes),
      members: Number(row.members),
    })),
  };
}

// --- suppressed queries (administrators keep phrases out of autocomplete) ---

/** Every suppressed phrase, newest first. */
export function selectSuppressedQueries(db: Queryable) {
  return db.select().from(suppressedQueries).orderBy(desc(suppressedQueries.createdAt), suppressedQueries.phrase);
}

/**
 * Suppresses `phrase` (already normalised): the row when it is new, none when the phrase already
 * was (a concurrent insert of the same phrase waits for the other and then inserts nothing; unique
 * index). Batched with `selectSuppressedPhrase` after it, which then reads the row either way.
 */
export function insertSuppressedQuery(
  db: Queryable,
  values: { phrase: string; reason: string | null; suppressedBy: string },
) {
  return db.insert(suppressedQueries).values(values).onConflictDoNothing().returning();
}

/** The suppression of `phrase` (zero or one row). */
export function selectSuppressedPhrase(db: Queryable, params: { phrase: string }) {
  return db.select().from(suppressedQueries).where(eq(suppressedQueries.phrase, params.phrase)).limit(1);
}

/** Lifts a suppression: the id when there was one, no row otherwise. */
export function deleteSuppression(db: Queryable, params: { id: string }) {
  return db
    .delete(suppressedQueries)
    .where(eq(suppressedQueries.id, params.id))
    .returning({ id: suppressedQueries.id });
}

// --- recording ---

/** One search as the Analytics Service records it. */
export interface RecordedSearch {
  id: string;
  userId: string;
  /** The normalised query text ("" when browsing). */
  query: string;
  filters: Record<string, unknown>;
  resultCount: number;
  /** Server latency until the answer was ready, in ms. */
  latencyMs: number;
  cacheHit: boolean;
}

/**
 * The statement recording one search, for either mode. The search route runs it alone in one HTTP
 * transaction (`batchAsActor`) after its response: one round trip to Postgres, which the caller
 * never waits for.
 */
export function recordSearch(db: Queryable, row: RecordedSearch) {
  return db.insert(searchQueries).values(row);
}

/**
 * The statement recording that a result was opened, once per query and document, in one round
 * trip: only for the user's own search and a document the viewer may read (not deleted). One row,
 * `found`: false when the search is not the user's or the document not readable (nothing is
 * written then); true also when the click was already recorded.
 */
export function recordClickStatement(params: {
  queryId: string;
  viewer: Viewer;
  documentId: string;
  position: number;
}): SQL {
  const search = and(eq(searchQueries.id, params.queryId), eq(searchQueries.userId, params.viewer.userId));
  const readable = and(eq(documents.id, params.documentId), isNull(documents.deletedAt), readableBy(params.viewer));
  return sql`
    with q as (select ${searchQueries.id} as id, ${searchQueries.createdAt} as created_at from ${searchQueries} where ${search}),
    d as (select ${documents.id} as id from ${documents} where ${readable}),
    recorded as (
      insert into ${searchClicks} (query_id, query_created_at, document_id, position)
      select q.id, q.created_at, d.id, ${params.position} from q, d
      on conflict do nothing returning 1
    )
    select exists (select 1 from q) and exists (select 1 from d) as found`;
}
