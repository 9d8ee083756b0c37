import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { documentVersions } from "../../src/db/schema/documents.ts";
import { MAX_UNFINISHED_EXTRACTIONS } from "../../src/processor/documents/pipeline.ts";
import { EICAR, png } from "../fixtures/files.ts";
import {
  asSystem,
  contentOf,
  deliver,
  eventually,
  notificationsOf,
  thumbnails,
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
  return onMoveToProcessing(documentId, "poison", "raise exception 'poisoned version %', new.document_id;");
}

/**
 * Records, until the returned `stop`, what the pipeline does to these documents' versions in
 * Postgres, in the order it is committed: each status a version moves to, and each extraction
 * start counted (a trigger writing to a table of its own). `read` gives `{ documentId, what }`,
 * `what` a status or "start".
 */
async function recordChanges(documentIds: readonly string[]) {
  const name = `changes_${crypto.randomUUID().replaceAll("-", "")}`;
  const ids = documentIds.map((id) => `'${id}'`).join(", ");
  await asSystem(async (tx) => {
    await tx.execute(sql.raw(`create table ${name} (n serial primary key, document_id uuid, what text not null)`));
    await tx.execute(
      sql.raw(`create function ${name}() returns trigger language plpgsql security definer as $$
        begin
          if new.status is distinct from old.status then
            insert into ${name} (document_id, what) values (new.document_id, new.status);
          end if;
          if new.extraction_starts > old.extraction_starts then
            insert into ${name} (document_id, what) values (new.document_id, 'start');
          end if;
          return new;
        end $$`),
    );
    await tx.execute(
      sql.raw(`create trigger ${name} after update on document_versions for each row
        when (new.document_id in (${ids})) execute function ${name}()`),
    );
  });
  return {
    read: () =>
      asSystem(async (tx) => {
        const rows = await tx.execute<{ document_id: string; what: string }>(
          sql.raw(`select document_id, what from ${name} order by n`),
        );
        return rows.rows.map((row) => ({ documentId: row.document_id, what: row.what }));
      }),
    stop: () =>
      asSystem(async (tx) => {
        await tx.execute(sql.raw(`drop trigger ${name} on document_versions`));
        await tx.execute(sql.raw(`drop function ${name}()`));
        await tx.execute(sql.raw(`drop table ${name}`));
      }),
  };
}

/**
 * Makes this document's version end `ready` as if a concurrent delivery had committed it just
 * before this one: the pipeline's own move to `ready` is replaced (a trigger skips it) by the same
 * move made from inside the trigger, so the pipeline finds it did not move the version, while the
 * row records the same thumbnail key. Until the returned function removes it.
 */
async function readiedConcurrently(documentId: string): Promise<() => Promise<void>> {
  const name = `concurrent_${documentId.replaceAll("-", "")}`;
  await asSystem(async (tx) => {
    await tx.execute(
      sql.raw(`create function ${name}() returns trigger language plpgsql security definer as $$
        begin
          update document_versions
             set status = 'ready', thumbnail_key = new.thumbnail_key, processed_at = now(), extraction_starts = 0
           where document_id = new.document_id and version = new.version;
          return null;
        end $$`),
    );
    await tx.execute(
      sql.raw(`create trigger ${name} before update on document_versions for each row
        when (new.document_id = '${documentId}' and old.status = 'processing' and new.status = 'ready'
              and pg_trigger_depth() < 1)
        execute function ${name}()`),
    );
  });
  return () =>
    asSystem(async (tx) => {
      await tx.execute(sql.raw(`drop trigger ${name} on document_versions`));
      await tx.execute(sql.raw(`drop function ${name}()`));
    });
}

/**
 * Makes every move of this document's version to `processing` wait `seconds` in Postgres (a
 * trigger), so that a batch holding it gets no answer within a shorter deadline. Until the
 * returned function removes it.
 */
async function slowed(documentId: string, seconds: number): Promise<() => Promise<void>> {
  return onMoveToProcessing(documentId, "slow", `perform pg_sleep(${seconds}); return new;`);
}

/**
 * Runs `body` (PL/pgSQL) in a trigger before every update of this document's versions to
 * `processing`, until the returned function removes it. Only that document is affected, so other
 * tests running meanwhile are not.
 */
async function onMoveToProcessing(documentId: string, prefix: string, body: string): Promise<() => Promise<void>> {
  const name = `${prefix}_${documentId.replaceAll("-", "")}`;
  await asSystem(async (tx) => {
    await tx.execute(
      sql.raw(`create function ${name}() returns trigger language plpgsql as $$
        begin ${body} end $$`),
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

/** A version as deliveries leave it when the runtime ends the isolate while they extract it. */
async function startedWithoutFinishing(documentId: string, starts: number) {
  await asSystem((tx) =>
    tx
      .update(documentVersions)
      .set({ status: "processing", scanResult: "clean", extractionStarts: starts })
      .where(eq(documentVersions.documentId, documentId)),
  );
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
    const recorder = await recordChanges([twice.documentId]);
    let changes: { what: string }[];
    try {
      const { ids, result } = await deliver("document-events", events);
      expect(new Set(result.explicitAcks)).toEqual(new Set(ids));
      changes = await recorder.read();
    } finally {
      await recorder.stop();
    }
    // One scan (one move to scanning, one of its outcome) and one extraction start.
    expect(changes.map((change) => change.what)).toEqual(["scanning", "processing", "start", "ready"]);
    expect(await versionOf(twice.documentId)).toMatchObject({ status: "ready", extractionStarts: 0 });
    expect(await versionOf(other.documentId)).toMatchObject({ status: "ready" });
    await exactlyNotified(twice.ownerId, 1);
    await exactlyNotified(other.ownerId, 1);
  });

  it("retries every message of a stage whose batch got no answer (it may have committed), rerunning none", async () => {
    const slow = await uploadedDocument("the slow document", "text/plain");
    const fine = await uploadedDocument("the fine document", "text/plain");
    const events = [uploadedEvent(slow.documentId), uploadedEvent(fine.documentId)];
    const undo = await slowed(slow.documentId, 8);
    let outcome: Awaited<ReturnType<typeof deliver>>;
    try {
      outcome = await deliver("document-events", events, { DATABASE_TIMEOUT_MS: "3000" });
    } finally {
      await undo();
    }
    // The batch past its deadline could have committed: no version of it runs again on its own
    // (that would count a start twice, or undo what committed); both are retried.
    expect(new Set(outcome.result.retryMessages.map((retry) => retry.msgId))).toEqual(new Set(outcome.ids));
    expect(outcome.result.explicitAcks).toEqual([]);
    for (const doc of [slow, fine]) {
      expect(await versionOf(doc.documentId)).toMatchObject({ status: "scanning", extractionStarts: 0 });
    }
    // Their retry finishes both, once.
    const again = await deliver("document-events", events, {}, 2);
    expect(new Set(again.result.explicitAcks)).toEqual(new Set(again.ids));
    for (const doc of [slow, fine]) {
      expect(await versionOf(doc.documentId)).toMatchObject({ status: "ready", extractionStarts: 0 });
      await exactlyNotified(doc.ownerId, 1);
    }
  });

  it("keeps the thumbnail a concurrent delivery's ready row records, though this one did not move the version", async () => {
    const image = await uploadedDocument(png(320, 200), "image/png");
    const other = await uploadedDocument("readied by this batch", "text/plain");
    const undo = await readiedConcurrently(image.documentId);
    try {
      const { ids, result } = await deliver("document-events", [
        uploadedEvent(image.documentId),
        uploadedEvent(other.documentId),
      ]);
      expect(new Set(result.explicitAcks)).toEqual(new Set(ids));
    } finally {
      await undo();
    }
    const version = await versionOf(image.documentId);
    expect(version).toMatchObject({ status: "ready", thumbnailKey: `documents/${image.documentId}/v1.webp` });
    expect((await thumbnails.get(version?.thumbnailKey ?? ""))?.contentType).toBe("image/webp");
    expect(await versionOf(other.documentId)).toMatchObject({ status: "ready" });
  });

  it("processes a document deleted meanwhile no further and tells nobody; the batch's others end ready", async () => {
    const doomed = await uploadedDocument("deleted while it is being processed", "text/plain");
    const other = await uploadedDocument("kept", "text/plain");
    // The move to processing waits in Postgres, so the delete lands while the batch holds it.
    const undo = await slowed(doomed.documentId, 1);
    try {
      const delivery = deliver("document-events", [uploadedEvent(doomed.documentId), uploadedEvent(other.documentId)]);
      await eventually(async () => ((await versionOf(doomed.documentId))?.status === "scanning" ? true : undefined));
      await asSystem((tx) =>
        tx.execute(sql`update documents set deleted_at = now() where id = ${doomed.documentId}::uuid`),
      );
      const { ids, result } = await delivery;
      expect(result.explicitAcks).toContain(ids[1]);
    } finally {
      await undo();
    }
    expect(await versionOf(other.documentId)).toMatchObject({ status: "ready" });
    const stopped = await versionOf(doomed.documentId);
    expect(["scanning", "processing"]).toContain(stopped?.status);
    // The batch's endings are announced together: the other's notification came, none for the deleted one.
    await exactlyNotified(other.ownerId, 1);
    expect(await notificationsOf(doomed.ownerId)).toEqual([]);
  });

  it("fails only the version that kept ending the isolate; the batch's others, fresh or started once, end ready", async () => {
    const crasher = await uploadedDocument("ends the isolate, say", "text/plain");
    const fresh = await Promise.all(
      ["one", "two", "three"].map((text) => uploadedDocument(`fresh ${text}`, "text/plain")),
    );
    // Left by the crashed delivery of an earlier batch: started once, not finished.
    const startedOnce = await Promise.all(
      ["one", "two"].map((text) => uploadedDocument(`started once ${text}`, "text/plain")),
    );
    await startedWithoutFinishing(crasher.documentId, MAX_UNFINISHED_EXTRACTIONS);
    for (const doc of startedOnce) await startedWithoutFinishing(doc.documentId, 1);
    const docs = [fresh[0], startedOnce[0], crasher, fresh[1], startedOnce[1], fresh[2]] as const;
    const recorder = await recordChanges(docs.map((doc) => doc?.documentId ?? ""));
    let changes: { documentId: string; what: string }[];
    try {
      const { ids, result } = await deliver(
        "document-events",
        docs.map((doc) => uploadedEvent(doc?.documentId ?? "")),
      );
      expect(new Set(result.explicitAcks)).toEqual(new Set(ids));
      expect(result.retryMessages).toEqual([]);
      changes = await recorder.read();
    } finally {
      await recorder.stop();
    }
    expect(await versionOf(crasher.documentId)).toMatchObject({
      status: "failed",
      failureReason: "file_too_complex",
      extractionStarts: 0,
    });
    for (const doc of [...fresh, ...startedOnce]) {
      expect(await versionOf(doc.documentId)).toMatchObject({ status: "ready", extractionStarts: 0 });
      expect((await contentOf(doc.documentId))?.text).toMatch(/^(fresh|started once) /);
    }
    // The fresh versions end first, their starts counted together; then each version started
    // before counts its own start right before its own extraction, one after another, so a file
    // that ends the isolate takes no other version's start with it.
    const firstSuspect = changes.findIndex((change) => !fresh.some((doc) => doc.documentId === change.documentId));
    const lastFreshReady = changes.findLastIndex(
      (change) => change.what === "ready" && fresh.some((doc) => doc.documentId === change.documentId),
    );
    expect(lastFreshReady).toBeLessThan(firstSuspect);
    expect(changes.slice(firstSuspect)).toEqual([
      { documentId: startedOnce[0]?.documentId, what: "start" },
      { documentId: startedOnce[0]?.documentId, what: "ready" },
      { documentId: crasher.documentId, what: "start" },
      { documentId: crasher.documentId, what: "failed" },
      { documentId: startedOnce[1]?.documentId, what: "start" },
      { documentId: startedOnce[1]?.documentId, what: "ready" },
    ]);
    for (const doc of docs) await exactlyNotified(doc?.ownerId ?? "", 1);
  });
});
