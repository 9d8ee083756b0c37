import { eq, inArray, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { accountTokens } from "../../src/db/schema/account-tokens.ts";
import { documents, documentVersions, uploadIntents } from "../../src/db/schema/documents.ts";
import { searchVocabulary } from "../../src/db/schema/search.ts";
import { png } from "../fixtures/files.ts";
import {
  asSystem,
  deliver,
  documentOf,
  eventually,
  newUser,
  notificationsOf,
  runSweep,
  storage,
  thumbnails,
  uploadedDocument,
  uploadedEvent,
  versionOf,
} from "./helpers.ts";

describe("the sweeper (cron)", () => {
  it("fails a version stuck in a transient status and tells the owner", async () => {
    const doc = await uploadedDocument("stuck", "text/plain");
    // A version whose message was lost: `scanning`, untouched for two hours.
    await asSystem((tx) =>
      tx
        .update(documentVersions)
        .set({ status: "scanning", updatedAt: sql`now() - interval '2 hours'` })
        .where(eq(documentVersions.documentId, doc.documentId)),
    );
    const fresh = await uploadedDocument("just uploaded", "text/plain");
    await runSweep();

    const version = await versionOf(doc.documentId);
    expect(version?.status).toBe("failed");
    expect(version).toMatchObject({
      failureReason: "processing_failed",
      failureDetail: "processing did not finish: stuck scanning for over 60 minutes",
    });
    expect((await documentOf(doc.documentId))?.status).toBe("failed");
    const [notification] = await eventually(async () => {
      const rows = await notificationsOf(doc.ownerId);
      return rows.length > 0 ? rows : undefined;
    });
    expect(notification?.type).toBe("document.failed");
    // A version pending for a moment is left alone.
    expect((await versionOf(fresh.documentId))?.status).toBe("pending");
  });

  it("deletes objects of uploads that never got a database row", async () => {
    const orphan = `documents/${crypto.randomUUID()}/${crypto.randomUUID()}`;
    const recent = `documents/${crypto.randomUUID()}/${crypto.randomUUID()}`;
    for (const [key, age] of [
      [orphan, "25 hours"],
      [recent, "1 hour"],
    ] as const) {
      await storage.put(key, "upload", { contentLength: 6, contentType: "text/plain" });
      await asSystem((tx) =>
        tx.insert(uploadIntents).values({ storageKey: key, createdAt: sql`now() - ${age}::interval` }),
      );
    }
    await runSweep();
    expect(await storage.head(orphan)).toBeNull();
    expect(await asSystem((tx) => tx.select().from(uploadIntents).where(eq(uploadIntents.storageKey, orphan)))).toEqual(
      [],
    );
    // An upload still in progress (or barely finished) is left alone.
    expect(await storage.head(recent)).not.toBeNull();
  });

  it("never deletes an object a version records, even when its intent was left behind", async () => {
    // What the intent bug left in databases: a finished upload whose intent outlived it.
    const doc = await uploadedDocument("a live file", "text/plain");
    await deliver("document-events", [uploadedEvent(doc.documentId)]);
    expect((await versionOf(doc.documentId))?.status).toBe("ready");
    await asSystem((tx) =>
      tx.insert(uploadIntents).values({ storageKey: doc.storageKey, createdAt: sql`now() - interval '25 hours'` }),
    );

    await runSweep();
    expect(await storage.head(doc.storageKey)).not.toBeNull();
    // The leaked intent is gone, so nothing will try again.
    expect(
      await asSystem((tx) => tx.select().from(uploadIntents).where(eq(uploadIntents.storageKey, doc.storageKey))),
    ).toEqual([]);
    expect((await versionOf(doc.documentId))?.status).toBe("ready");
  });

  it("purges documents deleted longer ago than the grace, with every object", async () => {
    const old = await uploadedDocument(png(300, 300), "image/png");
    const recent = await uploadedDocument("deleted yesterday", "text/plain");
    await deliver("document-events", [uploadedEvent(old.documentId)]);
    const thumbnail = (await versionOf(old.documentId))?.thumbnailKey;
    expect(thumbnail).toBeTruthy();
    await asSystem(async (tx) => {
      await tx
        .update(documents)
        .set({ deletedAt: sql`now() - interval '8 days'` })
        .where(eq(documents.id, old.documentId));
      await tx
        .update(documents)
        .set({ deletedAt: sql`now() - interval '1 day'` })
        .where(eq(documents.id, recent.documentId));
    });

    await runSweep();
    expect(await documentOf(old.documentId)).toBeUndefined();
    expect(await versionOf(old.documentId)).toBeUndefined();
    expect(await storage.head(old.storageKey)).toBeNull();
    expect(await thumbnails.head(thumbnail ?? "")).toBeNull();
    // Still within the grace: kept.
    expect(await documentOf(recent.documentId)).toBeDefined();
    expect(await storage.head(recent.storageKey)).not.toBeNull();
  });

  it("purges every datum derived from the document: its words, its tags, the notifications about it", async () => {
    const letters = () =>
      Array.from({ length: 10 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join("");
    const [own, shared, tag] = [`zq${letters()}`, `zq${letters()}`, `zq${letters()}`];
    const purged = await uploadedDocument(`the ${own} and the ${shared}`, "text/plain", { title: "purged" });
    const kept = await uploadedDocument(`only the ${shared} here`, "text/plain", { title: "kept" });
    await asSystem((tx) =>
      tx
        .update(documents)
        .set({ tags: [tag] })
        .where(eq(documents.id, purged.documentId)),
    );
    await deliver("document-events", [uploadedEvent(purged.documentId), uploadedEvent(kept.documentId)]);
    const vocabulary = () =>
      asSystem(async (tx) =>
        (
          await tx
            .select({ term: searchVocabulary.term })
            .from(searchVocabulary)
            .where(inArray(searchVocabulary.term, [own, shared, tag]))
        )
          .map((row) => row.term)
          .sort(),
      );
    expect(await vocabulary()).toEqual([own, shared, tag].sort());
    await eventually(async () => ((await notificationsOf(purged.ownerId)).length > 0 ? true : undefined));

    await asSystem((tx) =>
      tx
        .update(documents)
        .set({ deletedAt: sql`now() - interval '8 days'` })
        .where(eq(documents.id, purged.documentId)),
    );
    await runSweep();
    expect(await documentOf(purged.documentId)).toBeUndefined();
    // Its own word and tag are gone; a word another document still has stays.
    expect(await vocabulary()).toEqual([shared]);
    expect(await notificationsOf(purged.ownerId)).toEqual([]);
  });

  it("deletes mailed account tokens a day past their expiry, and keeps younger ones", async () => {
    const userId = await newUser();
    const token = (ageHours: number) => ({
      userId,
      purpose: "verify_email" as const,
      tokenHash: crypto.randomUUID().replaceAll("-", "").padEnd(64, "0"),
      email: `${userId}@example.com`,
      expiresAt: new Date(Date.now() - ageHours * 3_600_000),
    });
    const [old, recent] = await asSystem((tx) =>
      tx
        .insert(accountTokens)
        .values([token(25), token(23)])
        .returning({ id: accountTokens.id }),
    );
    if (!old || !recent) throw new Error("tokens not stored");
    await runSweep();
    const left = await asSystem((tx) =>
      tx
        .select({ id: accountTokens.id })
        .from(accountTokens)
        .where(inArray(accountTokens.id, [old.id, recent.id])),
    );
    expect(left).toEqual([{ id: recent.id }]);
  });
});
