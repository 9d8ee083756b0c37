import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { asSystem } from "./helpers.ts";

/** The plan Postgres chooses for `query` when it may not read a whole table (sequential scans off). */
const planOf = (query: ReturnType<typeof sql>) =>
  asSystem(async (tx) => {
    await tx.execute(sql`set local enable_seqscan = off`);
    const { rows } = await tx.execute<{ "QUERY PLAN": string }>(sql`explain ${query}`);
    return rows.map((row) => row["QUERY PLAN"]).join("\n");
  });

// Lookups made on every upload must not read every row of a table that grows with all users' data.
describe("lookups on every upload", () => {
  it("ends an upload's intent through indexes only (its row-level policy looks the key up in the versions)", async () => {
    // The statement `endUploadIntent` runs, with the policies (`recordedByVersion`) as Postgres applies them.
    const plan = await planOf(sql`delete from upload_intents where storage_key = 'documents/x/y'`);
    expect(plan).toContain("document_versions_storage_key_idx");
    expect(plan).not.toMatch(/Seq Scan/);
  });
});
