import { and, eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { documentVersions } from "../../src/db/schema/documents.ts";
import { png } from "../fixtures/files.ts";
import {
  asSystem,
  contentOf,
  deliver,
  documentOf,
  eventually,
  notificationsOf,
  runSweep,
  someoneWaits,
  thumbnails,
  uploadedDocument,
  uploadedEvent,
  versionOf,
} from "./helpers.ts";

// What the world sees (notifications, searchable text, events) follows the state it announces.

/** Settles the notifications queue: what was published is stored by then. */
const notificationKinds = async (userId: string, atLeast: number) =>
  (
    await eventually(async () => {
      const rows = await notificationsOf(userId);
      return rows.length >= atLeast ? rows : undefined;
    })
  ).map((row) => row.type);

describe("state first, then what announces it", () => {
  it("a version the sweeper failed while it was being processed gets no text, no thumbnail, no 'ready'", async () => {
    const doc = await uploadedDocument(png(64, 64), "image/png");
    // Scanned, now being processed...
    await asSystem((tx) =>
      tx
        .update(documentVersions)
        .set({ status: "processing", scanResult: "clean" })
        .where(eq(documentVersions.documentId, doc.documentId)),
    );
    // ... and while the pipeline works, the sweeper ends the version (its clock said it was stuck).
    // Our transaction holds the version's row, so the pipeline's transition waits for it.
    const running = await asSystem(async (tx) => {
      await tx.execute(
        sql`select 1 from document_versions where document_id = ${doc.documentId} and version = 1 for update`,
      );
      const pipeline = deliver("document-events", [uploadedEvent(doc.documentId)]);
      await eventually(someoneWaits);
      await tx
        .update(documentVersions)
        .set({
          status: "failed",
          failureReason: "processing_failed",
          failureDetail: "processing did not finish: stuck",
          updatedAt: sql`now()`,
        })
        .where(and(eq(documentVersions.documentId, doc.documentId), eq(documentVersions.version, 1)));
      // Wrapped: an async function returning the promise itself would wait for it, holding the lock.
      return { pipeline };
    });
    const delivered = await running.pipeline;
    expect(delivered.result.explicitAcks).toEqual(delivered.ids);

    const version = await versionOf(doc.documentId);
    expect(version?.status).toBe("failed");
    expect(version?.thumbnailKey).toBeNull();
    // The text was never stored, so search cannot find a failed version.
    expect(await contentOf(doc.documentId)).toBeUndefined();
    // The thumbnail it had made is not left behind either.
    expect(await thumbnails.head(`documents/${doc.documentId}/v1.webp`)).toBeNull();
    // Nothing announced 'ready'. (The row was failed by hand here, so no 'failed' was sent either.)
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await notificationsOf(doc.ownerId)).map((row) => row.type)).not.toContain("document.ready");
  });

  it("the sweeper's 'failed' and a late event's are one notification", async () => {
    const doc = await uploadedDocument("late", "text/plain");
    await asSystem((tx) =>
      tx
        .update(documentVersions)
        .set({ status: "scanning", updatedAt: sql`now() - interval '2 hours'` })
        .where(eq(documentVersions.documentId, doc.documentId)),
    );
    await runSweep();
    expect(await notificationKinds(doc.ownerId, 1)).toEqual(["document.failed"]);

    // The event whose processing was lost arrives after all: the version stays failed and the
    // owner hears of its ending once.
    const { result, ids } = await deliver("document-events", [uploadedEvent(doc.documentId)]);
    expect(result.explicitAcks).toEqual(ids);
    expect((await versionOf(doc.documentId))?.status).toBe("failed");
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await notificationsOf(doc.ownerId)).map((row) => row.type)).toEqual(["document.failed"]);
  });

  it("a redelivered event announces an ending again, as the same notification", async () => {
    const doc = await uploadedDocument("announce me", "text/plain");
    await deliver("document-events", [uploadedEvent(doc.documentId)]);
    expect(await notificationKinds(doc.ownerId, 1)).toEqual(["document.ready"]);
    // The ending is committed; whether its first announcement got out or not, a redelivery sends
    // it again, and the Notification Service keeps one.
    await deliver("document-events", [uploadedEvent(doc.documentId)], {}, 2);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await notificationsOf(doc.ownerId)).map((row) => row.type)).toEqual(["document.ready"]);
  });

  it("the sweeper publishes the event again for a version left pending (a send after the commit failed)", async () => {
    const doc = await uploadedDocument("the event never left", "text/plain");
    await asSystem((tx) =>
      tx
        .update(documentVersions)
        .set({ updatedAt: sql`now() - interval '10 minutes'` })
        .where(eq(documentVersions.documentId, doc.documentId)),
    );
    await runSweep();
    // Through the real queue, to the pipeline.
    const ready = await eventually(async () => {
      const document = await documentOf(doc.documentId);
      return document?.status === "ready" ? document : undefined;
    });
    expect(ready.status).toBe("ready");
  });
});
