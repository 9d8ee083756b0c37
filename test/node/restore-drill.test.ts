import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type DrillReport, describeDrill, driftOf, runRestoreDrill } from "../../scripts/backup/drill.ts";

// The restore drill of issue 18 against the local stack: a platform of its own is filled (corpus in
// bulk, documents through the API, processed), backed up, written to, destroyed (database dropped,
// buckets deleted), restored and served again; its figures are printed (the README quotes them).

describe("the restore drill", () => {
  let dir: string;
  let report: DrillReport;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "restore-drill-"));
    report = await runRestoreDrill({
      stack: inject("stack"),
      dir,
      bulkDocuments: 200,
      apiDocuments: 6,
      writesAfterBackup: 3,
      log: (line) => console.log(`[drill] ${line}`),
    });
    for (const line of describeDrill(report)) console.log(`[drill] ${line}`);
  }, 600_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("restores every table's rows, as the backup counted them", () => {
    expect(Object.keys(report.before.rows).length).toBeGreaterThan(10);
    expect(report.before.rows.documents).toBeGreaterThanOrEqual(207);
    expect(report.after.rows).toEqual(report.before.rows);
    const counted = Object.fromEntries(report.backup.manifest.database.tables.map((t) => [t.name, t.rows]));
    expect(counted).toEqual(report.before.rows);
  });

  it("restores every object, with the same SHA-256, thumbnails included", () => {
    const keys = Object.keys(report.before.objects);
    expect(keys.some((k) => k.startsWith("thumbnails/"))).toBe(true);
    expect(keys.filter((k) => k.startsWith("documents/")).length).toBeGreaterThanOrEqual(207);
    expect(report.after.objects).toEqual(report.before.objects);
    expect(report.restore.objects.verified).toBe(keys.length);
  });

  it("puts back forced row-level security and the triggers", () => {
    expect(report.before.forcedTables.length).toBeGreaterThan(10);
    expect(report.after.forcedTables).toEqual(report.before.forcedTables);
    expect(report.after.enabledTriggers).toEqual(report.before.enabledTriggers);
  });

  it("puts the rows of the tables partitioned by month back in their months' partitions", () => {
    const months = Object.keys(report.before.partitionRows).filter((p) => p.startsWith("search_queries_p"));
    expect(months.length).toBeGreaterThanOrEqual(2);
    expect(report.before.partitionRows.search_queries_default).toBeUndefined();
    expect(report.after.partitionRows).toEqual(report.before.partitionRows);
  });

  it("finds nothing that differs, and names a difference when there is one (the script's MISMATCH lines)", () => {
    expect(driftOf(report)).toEqual([]);
    const [objectKey] = Object.keys(report.after.objects);
    const { [objectKey ?? ""]: _dropped, ...fewerObjects } = report.after.objects;
    const drifted = {
      ...report,
      after: {
        ...report.after,
        rows: { ...report.after.rows, documents: (report.after.rows.documents ?? 0) - 1 },
        objects: fewerObjects,
      },
      signIns: [{ username: "someone", status: 401 }],
    };
    expect(driftOf(drifted)).toEqual([
      `rows of documents: ${report.before.rows.documents} before, ${(report.before.rows.documents ?? 0) - 1} after`,
      `1 objects missing or changed, e.g. ${objectKey} ${report.before.objects[objectKey ?? ""]}`,
      "someone cannot sign in: 401",
    ]);
  });

  it("answers a search as before, and users sign in with their passwords", () => {
    expect(report.before.searchIds.length).toBeGreaterThan(0);
    expect(report.after.searchIds).toEqual(report.before.searchIds);
    expect(report.signIns.map((s) => s.status)).toEqual([200, 200]);
  });

  it("loses the writes made after the backup, and only those (the RPO)", () => {
    expect(report.rpo.writesLost).toBe(report.rpo.writesAfterBackup);
    expect(report.rpo.windowMs).toBeGreaterThan(0);
    expect(report.rto.totalMs).toBeGreaterThan(0);
  });

  it("refuses, in one line, to restore over data: a database or buckets that are not empty, or a bucket that is not there", () => {
    expect(report.refusals.database).toMatch(
      /^database "techcorp" is not empty \(\d+ tables, views or sequences in public, a migration journal\): restore needs an empty database$/,
    );
    expect(report.refusals.buckets).toMatch(
      /^bucket "drill-[0-9a-f]+-documents" is not empty: restore needs empty buckets$/,
    );
    expect(report.refusals.missingBucket).toMatch(
      /^bucket "drill-[0-9a-f]+-never-made" \(the documents bucket\) does not exist: create it, empty, or pass --create-buckets$/,
    );
  });

  it("refuses a superuser and a role that may not build the schema, and makes no bucket when it refuses", () => {
    expect(report.refusals.superuser).toMatch(
      /^role "postgres" is a superuser: the restored tables would be owned by it, not by the platform's role; connect as /,
    );
    expect(report.refusals.privileges).toBe(
      'role "techcorp_app" cannot build the schema in database "techcorp_foreign" (owned by "postgres"): it lacks CREATE on database "techcorp_foreign" and USAGE and CREATE on schema public; create the database owned by the platform\'s role (create database … owner "techcorp_app") or connect as its owner',
    );
    expect(report.refusals.notEmptyWithCreate).toMatch(
      /^bucket "drill-[0-9a-f]+-thumbnails" is not empty: restore needs empty buckets$/,
    );
    expect(report.refusals.bucketsMade).toEqual([]);
  });

  it("undoes what a restore that fails after it started writing wrote, and names the root cause", () => {
    expect(report.failedRestore.message).toMatch(
      /^schema "repartition" already exists \(in: CREATE SCHEMA "repartition";\); undone: \d+ objects deleted from the target buckets, buckets "drill-[0-9a-f]+-undo-documents", "drill-[0-9a-f]+-undo-thumbnails" deleted; the database may keep the schema built before the load: drop it and create it again, empty, before a retry$/,
    );
    const deleted = Number(/undone: (\d+) objects/.exec(report.failedRestore.message)?.[1]);
    expect(deleted).toBe(report.backup.manifest.objects.count);
    expect(report.failedRestore.bucketsLeft).toEqual([]);
  });
});
