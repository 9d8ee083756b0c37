import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { EICAR } from "../fixtures/files.ts";
import {
  asSystem,
  contentOf,
  deliver,
  eventually,
  notificationsOf,
  uploadedDocument,
  uploadedEvent,
  versionOf,
} from "./helpers.ts";

/** Resolves once the owner has `count` notifications, and checks after a pause that no more arrive. */
async function exactlyNotified(ownerId: string, count: number) {
  await eventually(async () => ((await notificationsOf(ownerId)).length >= count ? true : undefined));
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(await notificationsOf(ownerId)).toHaveLength(count);
}

/**
 * Makes every update of this document's versions to `processing` fail in Postgres (a trigger that
 * raises), as a statement that keeps failing for one message would, until the returned function
 * removes it. Only that document is affected, so other tests running meanwhile are not.
 */
async function poison(documentId: string): Promise<() => Promise<void>> {
  const name = `poison_${documentId.replaceAll("-", "")}`;
  await asSystem(async (tx) => {
    await tx.execute(
      sql.raw(`create function ${name}() returns trigger language plpgsql as $$
        begin raise exception 'poisoned version %', new.document_id; end $$`),
    );
    await tx.execute(
      sql.raw(`create trigger ${name} before update on document_versions for each row
        when (new.document_id = '${documentId}' and new.status = 'processing') execute function ${name}()`),
    );
  });
  return () =>
    asSystem(async (tx) => {
      await tx.execute(sql.raw(`drop trigger ${name} on document_versions`));
      await tx.execute(sql.raw(`drop function ${name}()`));
    });
}

describe("a batch of document events", () => {
  it("with one poisoned message: the others end ready and are acked, the poisoned one alone is retried", async () => {
    const fine = await Promise.all(
      ["first", "second", "third"].map((text) => uploadedDocument(`the ${text} document`, "text/plain")),
    );
    const poisoned = await uploadedDocument("the poisoned document", "text/plain");
    const cure = await poison(poisoned.documentId);
    let outcome: Awaited<ReturnType<typeof deliver>>;
    try {
      outcome = await deliver(
        "document-events",
        [fine[0], poisoned, fine[1], fine[2]].map((doc) => uploadedEvent(doc?.documentId ?? "")),
      );
    } finally {
      await cure();
    }
    const { ids, result } = outcome;
    expect(result.retryMessages).toEqual([{ msgId: ids[1] }]);
    expect(new Set(result.explicitAcks)).toEqual(new Set([ids[0], ids[2], ids[3]]));

    const finished = await Promise.all(
      fine.map(async (doc) => ({ version: await versionOf(doc.documentId), content: await contentOf(doc.documentId) })),
    );
    for (const [i, { version, content }] of finished.entries()) {
      expect(version).toMatchObject({ status: "ready", scanResult: "clean" });
      expect(content?.text).toBe(`the ${["first", "second", "third"][i]} document`);
    }
    // The poisoned one stays where its last committed step left it, the error kept for operators.
    const stuck = await versionOf(poisoned.documentId);
    expect(stuck).toMatchObject({ status: "scanning", failureReason: null });
    expect(stuck?.failureDetail).toMatch(/poisoned version/);

    // Its retry, alone, finishes it; nothing the others finished is done again.
    const again = await deliver("document-events", [uploadedEvent(poisoned.documentId)], {}, 2);
    expect(again.result.explicitAcks).toEqual(again.ids);
    expect(await versionOf(poisoned.documentId)).toMatchObject({ status: "ready", failureDetail: null });
    for (const [i, doc] of fine.entries()) {
      expect(await versionOf(doc.documentId)).toEqual(finished[i]?.version);
      expect(await contentOf(doc.documentId)).toEqual(finished[i]?.content);
    }
    for (const doc of [...fine, poisoned]) await exactlyNotified(doc.ownerId, 1);
  });

  it("decides every version by its own outcome: clean, infected, missing, already ready", async () => {
    const clean = await uploadedDocument("clean text", "text/plain");
    const infected = await uploadedDocument(EICAR, "text/plain");
    const missing = await uploadedDocument("never stored", "text/plain", { store: false });
    const done = await uploadedDocument("processed before", "text/plain");
    await deliver("document-events", [uploadedEvent(done.documentId)]);
    const before = await versionOf(done.documentId);

    const docs = [clean, infected, missing, done];
    const { ids, result } = await deliver(
      "document-events",
      docs.map((doc) => uploadedEvent(doc.documentId)),
    );
    expect(new Set(result.explicitAcks)).toEqual(new Set(ids));
    expect(await versionOf(clean.documentId)).toMatchObject({ status: "ready", scanResult: "clean" });
    expect(await versionOf(infected.documentId)).toMatchObject({
      status: "quarantined",
      failureReason: "malware_detected",
    });
    expect(await versionOf(missing.documentId)).toMatchObject({ status: "failed", failureReason: "processing_failed" });
    expect(await versionOf(done.documentId)).toEqual(before);
    expect(await contentOf(infected.documentId)).toBeUndefined();
    // Every ending announced once, in one send for the batch (the redelivered one's is the same event).
    for (const doc of docs) await exactlyNotified(doc.ownerId, 1);
    expect((await notificationsOf(infected.ownerId))[0]?.type).toBe("document.quarantined");
    expect((await notificationsOf(missing.ownerId))[0]?.type).toBe("document.failed");
  });

  it("with duplicate messages for one version: the work is done once, every message acked", async () => {
    const twice = await uploadedDocument("delivered twice", "text/plain");
    const other = await uploadedDocument("delivered once", "text/plain");
    // Two distinct events for the same version (the sweeper's and the upload's), and one event twice.
    const first = uploadedEvent(twice.documentId);
    const events = [first, uploadedEvent(other.documentId), uploadedEvent(twice.documentId, 1, "req-sweeper"), first];
    const { ids, result } = await deliver("document-events", events);
    expect(new Set(result.explicitAcks)).toEqual(new Set(ids));
    expect(await versionOf(twice.documentId)).toMatchObject({ status: "ready" });
    expect(await versionOf(other.documentId)).toMatchObject({ status: "ready" });
    await exactlyNotified(twice.ownerId, 1);
    await exactlyNotified(other.ownerId, 1);
  });
});
