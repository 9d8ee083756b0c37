import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import migration from "../../migrations/0013_failure_reason_codes.sql?raw";
import { documents, documentVersions } from "../../src/db/schema/documents.ts";
import { notifications } from "../../src/db/schema/notifications.ts";
import { asSystem, uploadedDocument } from "./helpers.ts";

/** Rolls the transaction back once the assertions inside it have run. */
class RollBack extends Error {}

// Before migration 0013, failure_reason held free text (a parser's message, a dependency's
// address) and notifications repeated it. The migration's data statements run here on rows as
// they were then, inside a transaction that is rolled back, so other tests' rows stay as they are.
describe("migration 0013 turns free-text failure reasons into codes", () => {
  it("keeps the text as the operator's detail and rewrites the notifications that carried it", async () => {
    const failed = await uploadedDocument("failed before the fix", "text/plain");
    const quarantined = await uploadedDocument("quarantined before the fix", "text/plain");
    const leaked = "cannot connect to clamd at 127.0.0.1:3310";

    const statements = migration
      .split("--> statement-breakpoint")
      .map((statement) => statement.trim())
      .filter((statement) => !/ADD COLUMN/i.test(statement));
    const run = asSystem(async (tx) => {
      await tx.execute(sql`alter table document_versions drop constraint document_versions_failure_reason_check`);
      await tx.execute(sql`alter table documents drop constraint documents_failure_reason_check`);
      const legacy = async (documentId: string, status: "failed" | "quarantined", reason: string) => {
        await tx.execute(
          sql`update document_versions set status = ${status}, failure_reason = ${reason}, failure_detail = null where document_id = ${documentId}`,
        );
        await tx.execute(
          sql`update documents set status = ${status}, failure_reason = ${reason} where id = ${documentId}`,
        );
      };
      await legacy(failed.documentId, "failed", `processing did not succeed within the retry limit: ${leaked}`);
      await legacy(quarantined.documentId, "quarantined", "malware found: Eicar-Test-Signature");
      await tx.insert(notifications).values({
        userId: failed.ownerId,
        type: "document.failed",
        title: "“x” could not be processed",
        body: `Version 1 failed: ${leaked}`,
        data: { documentId: failed.documentId, version: 1, reason: leaked },
        eventId: crypto.randomUUID(),
      });

      for (const statement of statements) await tx.execute(sql.raw(statement));

      const version = async (documentId: string) =>
        (await tx.select().from(documentVersions).where(eq(documentVersions.documentId, documentId)))[0];
      const document = async (id: string) => (await tx.select().from(documents).where(eq(documents.id, id)))[0];
      expect(await version(failed.documentId)).toMatchObject({
        failureReason: "processing_failed",
        failureDetail: `processing did not succeed within the retry limit: ${leaked}`,
      });
      expect(await document(failed.documentId)).toMatchObject({ failureReason: "processing_failed" });
      expect(await version(quarantined.documentId)).toMatchObject({
        failureReason: "malware_detected",
        failureDetail: "malware found: Eicar-Test-Signature",
      });
      expect(await document(quarantined.documentId)).toMatchObject({ failureReason: "malware_detected" });
      const [notification] = await tx.select().from(notifications).where(eq(notifications.userId, failed.ownerId));
      expect(notification?.data).toEqual({ documentId: failed.documentId, version: 1, reason: "processing_failed" });
      expect(notification?.body).toBe(
        "Version 1 could not be processed: processing did not succeed; uploading it again or asking support may help.",
      );
      throw new RollBack();
    });
    await expect(run).rejects.toBeInstanceOf(RollBack);
  });
});
