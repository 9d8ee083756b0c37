import { and, eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { transitionVersion } from "../../src/db/queries/documents.ts";
import { documentVersions } from "../../src/db/schema/documents.ts";
import { asSystem, eventually, someoneWaits, uploadedDocument, versionOf } from "./helpers.ts";

// Every path that changes a document and its versions locks the document's row first. A
// transition that took the version's row first deadlocked against a reprocess (which locks the
// document, then resets the version), found by the OpenAPI fuzz test.
describe("lock order: the document's row before its versions'", () => {
  it("a transition waits for a writer holding the document, instead of deadlocking with it", async () => {
    const doc = await uploadedDocument("locks", "text/plain");
    const running = await asSystem(async (tx) => {
      // A reprocess-like writer: the document's row first ...
      await tx.execute(sql`select 1 from documents where id = ${doc.documentId} for update`);
      // ... while the pipeline moves the version ...
      const transition = asSystem((other) =>
        transitionVersion(other, { documentId: doc.documentId, version: 1, from: ["pending"], to: "scanning" }),
      );
      await eventually(someoneWaits);
      // ... and then the writer changes the version too.
      await tx
        .update(documentVersions)
        .set({ failureDetail: "reset by the writer" })
        .where(and(eq(documentVersions.documentId, doc.documentId), eq(documentVersions.version, 1)));
      // Wrapped: returning the promise itself would wait for it while holding the lock.
      return { transition };
    });
    const moved = await running.transition;
    expect(moved?.status).toBe("scanning");
    expect((await versionOf(doc.documentId))?.failureDetail).toBeNull();
  });
});
