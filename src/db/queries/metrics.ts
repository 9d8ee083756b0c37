import { sql } from "drizzle-orm";
import type { Queryable } from "../actor.ts";
import { documentVersions } from "../schema/documents.ts";
import { projects } from "../schema/projects.ts";
import { users } from "../schema/users.ts";
import type { selectDocumentGroups } from "./analytics.ts";

// What the scrape of GET /metrics reads from Postgres, as the system: the business gauges and the
// storage used: this statement and the analytics' documents by type and status
// (`selectDocumentGroups`), in one HTTP batch (one round trip), decoded by `readScrapeFigures`.

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

/** The scrape's figures from the two statements' rows. */
export function readScrapeFigures(
  totals: Awaited<ReturnType<typeof selectAccountAndProjectTotals>>,
  groups: Awaited<ReturnType<typeof selectDocumentGroups>>,
) {
  const [row] = totals;
  // The analytics' groups (type × status) added up by status.
  const byStatus = new Map<string, number>();
  for (const group of groups) byStatus.set(group.status, (byStatus.get(group.status) ?? 0) + Number(group.count));
  return {
    users: Number(row?.users ?? 0),
    projects: { active: Number(row?.activeProjects ?? 0), archived: Number(row?.archivedProjects ?? 0) },
    storageBytes: { postgres: Number(row?.databaseBytes ?? 0), documents: Number(row?.versionBytes ?? 0) },
    documentsByStatus: [...byStatus].map(([status, count]) => ({ status, count })),
  };
}
