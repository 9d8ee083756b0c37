import { isNull, sql } from "drizzle-orm";
import type { Queryable } from "../actor.ts";
import { documents, documentVersions } from "../schema/documents.ts";
import { projects } from "../schema/projects.ts";
import { users } from "../schema/users.ts";

// What the scrape of GET /metrics reads from Postgres, as the system: the business gauges and the
// storage used. Three statements for one HTTP batch (one round trip), decoded by `readScrapeFigures`.

/** Accounts not erased nor awaiting erasure, and projects not deleted, by whether they are archived. */
export function selectAccountAndProjectTotals(db: Queryable) {
  return db
    .select({
      users: sql<number>`(select count(*) from ${users} where ${users.deletionRequestedAt} is null)::float8`,
      activeProjects: sql<number>`(select count(*) from ${projects} where ${projects.deletedAt} is null and ${projects.archivedAt} is null)::float8`,
      archivedProjects: sql<number>`(select count(*) from ${projects} where ${projects.deletedAt} is null and ${projects.archivedAt} is not null)::float8`,
      // The database's size on disk, as Neon's storage counts it (tables, indexes, TOAST).
      databaseBytes: sql<number>`pg_database_size(current_database())::float8`,
      // Every stored version's bytes: what the documents bucket holds (thumbnails aside).
      versionBytes: sql<number>`(select coalesce(sum(${documentVersions.sizeBytes}), 0) from ${documentVersions})::float8`,
    })
    .from(sql`(select 1) as one`);
}

/** Documents not deleted, by processing status. */
export function selectDocumentsByStatus(db: Queryable) {
  return db
    .select({ status: documents.status, count: sql<number>`count(*)::float8` })
    .from(documents)
    .where(isNull(documents.deletedAt))
    .groupBy(documents.status);
}

/** The scrape's figures from the two statements' rows. */
export function readScrapeFigures(
  totals: Awaited<ReturnType<typeof selectAccountAndProjectTotals>>,
  statuses: Awaited<ReturnType<typeof selectDocumentsByStatus>>,
) {
  const [row] = totals;
  return {
    users: Number(row?.users ?? 0),
    projects: { active: Number(row?.activeProjects ?? 0), archived: Number(row?.archivedProjects ?? 0) },
    storageBytes: { postgres: Number(row?.databaseBytes ?? 0), documents: Number(row?.versionBytes ?? 0) },
    documentsByStatus: statuses.map((entry) => ({ status: entry.status, count: Number(entry.count) })),
  };
}
