import { Redis } from "@upstash/redis/cloudflare";
import { and, eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { addVersion } from "../../src/db/queries/documents.ts";
import { type DocumentStatus, documentContent, documents } from "../../src/db/schema/documents.ts";
import { documentSearch } from "../../src/db/schema/search.ts";
import { asSystem, deliver, storage, testEnv, uploadedDocument, uploadedEvent } from "./helpers.ts";

const redis = new Redis({
  url: testEnv.UPSTASH_REDIS_REST_URL,
  token: testEnv.UPSTASH_REDIS_REST_TOKEN,
  enableTelemetry: false,
});

/** Whether the document's search index entry matches a query (English analysis, as searches do). */
const indexed = (documentId: string, query: string) =>
  asSystem(async (tx) => {
    const [row] = await tx
      .select({ match: sql<boolean>`${documentSearch.vector} @@ websearch_to_tsquery('english', ${query})` })
      .from(documentSearch)
      .where(eq(documentSearch.documentId, documentId));
    return row?.match;
  });

describe("the search index", () => {
  it("takes a document's text when it is processed, and tells the cache", async () => {
    const doc = await uploadedDocument("The capybara grazes by the river.", "text/plain", { title: "Field diary" });
    // The title is indexed as the document is written; the text once it is extracted.
    expect(await indexed(doc.documentId, "diary")).toBe(true);
    expect(await indexed(doc.documentId, "capybara")).toBe(false);
    await redis.del(`search:gen:user:${doc.ownerId}`);
    const before = await redis.get(`search:gen:all`);

    await deliver("document-events", [uploadedEvent(doc.documentId)]);
    expect(await indexed(doc.documentId, "capybara grazing")).toBe(true);
    // Cached results of the owner and of read-everything users are stale now.
    expect(await redis.get(`search:gen:user:${doc.ownerId}`)).not.toBeNull();
    expect(await redis.get(`search:gen:all`)).not.toEqual(before);
  });

  it("leaves the index row alone while the status moves through processing; quarantine still hides it", async () => {
    const doc = await uploadedDocument("The tapir wades.", "text/plain");
    // The row's tuple (ctid) changes with every rewrite of it.
    const row = () =>
      asSystem(async (tx) => {
        const [found] = await tx
          .select({ at: sql<string>`${documentSearch}.ctid::text`, searchable: documentSearch.searchable })
          .from(documentSearch)
          .where(eq(documentSearch.documentId, doc.documentId));
        return found;
      });
    const setStatus = (status: DocumentStatus) =>
      asSystem((tx) => tx.update(documents).set({ status }).where(eq(documents.id, doc.documentId)));
    const written = await row();
    await setStatus("scanning");
    await setStatus("processing");
    expect(await row()).toEqual(written);
    await setStatus("quarantined");
    const hidden = await row();
    expect(hidden?.searchable).toBe(false);
    expect(hidden?.at).not.toBe(written?.at);
  });

  it("keeps the current version's text when an older version's text arrives late", async () => {
    const doc = await uploadedDocument("the first draft mentions an ibis", "text/plain");
    await deliver("document-events", [uploadedEvent(doc.documentId)]);
    expect(await indexed(doc.documentId, "ibis")).toBe(true);

    const key = `documents/${doc.documentId}/${crypto.randomUUID()}`;
    const second = new TextEncoder().encode("the second draft mentions a heron");
    await storage.put(key, second, { contentLength: second.length, contentType: "text/plain" });
    await asSystem((tx) =>
      addVersion(tx, {
        documentId: doc.documentId,
        createdBy: doc.ownerId,
        file: {
          storageKey: key,
          contentType: "text/plain",
          sizeBytes: second.length,
          sha256: "0".repeat(64),
          filename: null,
        },
      }),
    );
    // The new current version has no text yet: the index holds none (not the old version's).
    expect(await indexed(doc.documentId, "ibis")).toBe(false);
    // Version 1's text is written again (a late redelivery): the index stays on version 2.
    await asSystem((tx) =>
      tx
        .update(documentContent)
        .set({ text: "the first draft mentions an ibis, again" })
        .where(and(eq(documentContent.documentId, doc.documentId), eq(documentContent.version, 1))),
    );
    expect(await indexed(doc.documentId, "ibis")).toBe(false);
  });

  it("takes new text while the document is renamed, without a deadlock", async () => {
    const doc = await uploadedDocument("first words", "text/plain", { title: "Before" });
    let contentWritten = () => {};
    const written = new Promise<void>((resolve) => {
      contentWritten = resolve;
    });
    // The processor's order: the text first, then the document's status, in one transaction ...
    const processing = asSystem(async (tx) => {
      await tx.insert(documentContent).values({ documentId: doc.documentId, version: 1, text: "the okapi text" });
      contentWritten();
      // (time for the rename below to start waiting on this transaction)
      await new Promise((resolve) => setTimeout(resolve, 300));
      await tx.update(documents).set({ status: "ready" }).where(eq(documents.id, doc.documentId));
    });
    // ... while someone renames the document.
    await written;
    const renaming = asSystem((tx) =>
      tx.update(documents).set({ title: "Renamed" }).where(eq(documents.id, doc.documentId)),
    );
    await Promise.all([processing, renaming]);
    expect(await indexed(doc.documentId, "okapi renamed")).toBe(true);
  });
});
