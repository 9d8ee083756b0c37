import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { and, eq } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { pruneVersions } from "../../src/db/queries/documents.ts";
import { documentContent, documents, documentVersions, uploadIntents } from "../../src/db/schema/documents.ts";
import { versionRetentionAt } from "../../src/documents/retention.ts";
import worker from "../../workers/processor/index.ts";
import { captureLines } from "../console-lines.ts";
import { asSystem, storage, testEnv, thumbnails, uploadedDocument } from "./helpers.ts";

// Version retention (VERSION_RETENTION_KEEP_LATEST = 20, VERSION_RETENTION_DAILY_DAYS = 30, the
// processor's configuration): every time below is computed from one fixed instant, the sweep's.
const DAY = 24 * 60 * 60 * 1000;
const HOUR = 60 * 60 * 1000;

afterEach(() => vi.restoreAllMocks());

/**
 * A document with 25 versions, the 25th current and a restore of the 1st (same object and
 * thumbnail); versions 6–25 yesterday, 5 and 4 on one day three days ago (5 the later), 3 alone
 * five days ago, 2 and 1 forty-odd days ago. Each version's object and thumbnail are stored.
 */
async function documentWithHistory(at: Date) {
  const midnight = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate());
  const createdAt = (version: number): Date => {
    if (version >= 6) return new Date(midnight - DAY + version * 60_000);
    if (version === 5) return new Date(midnight - 3 * DAY + 2 * HOUR);
    if (version === 4) return new Date(midnight - 3 * DAY + HOUR);
    if (version === 3) return new Date(midnight - 5 * DAY + HOUR);
    return new Date(midnight - (42 - version) * DAY);
  };
  const doc = await uploadedDocument("version 1", "text/plain");
  const id = doc.documentId;
  const keyOf = (version: number) => (version === 1 || version === 25 ? doc.storageKey : `documents/${id}/v${version}`);
  const thumbnailOf = (version: number) => `documents/${id}/v${version === 25 ? 1 : version}.webp`;
  for (let version = 2; version <= 24; version += 1) {
    await storage.put(keyOf(version), `version ${version}`, {
      contentLength: 9 + String(version).length,
      contentType: "text/plain",
    });
  }
  for (let version = 1; version <= 24; version += 1) {
    await thumbnails.put(thumbnailOf(version), "webp", { contentLength: 4, contentType: "image/webp" });
  }
  await asSystem(async (tx) => {
    await tx
      .update(documentVersions)
      .set({ status: "ready", scanResult: "clean", thumbnailKey: thumbnailOf(1), createdAt: createdAt(1) })
      .where(eq(documentVersions.documentId, id));
    const [first] = await tx.select().from(documentVersions).where(eq(documentVersions.documentId, id));
    if (!first) throw new Error("no first version");
    await tx.insert(documentVersions).values(
      Array.from({ length: 24 }, (_, index) => {
        const version = index + 2;
        return {
          ...first,
          version,
          storageKey: keyOf(version),
          sha256: version === 25 ? first.sha256 : `${String(version).padStart(2, "0")}${first.sha256.slice(2)}`,
          restoredFrom: version === 25 ? 1 : null,
          thumbnailKey: thumbnailOf(version),
          createdAt: createdAt(version),
          updatedAt: createdAt(version),
        };
      }),
    );
    await tx
      .insert(documentContent)
      .values([1, 2, 4, 25].map((version) => ({ documentId: id, version, text: `version ${version}` })));
    await tx.update(documents).set({ currentVersion: 25, status: "ready" }).where(eq(documents.id, id));
  });
  return { id, keyOf, thumbnailOf };
}

const versionsLeft = async (id: string) =>
  (
    await asSystem((tx) =>
      tx
        .select({ version: documentVersions.version })
        .from(documentVersions)
        .where(eq(documentVersions.documentId, id)),
    )
  )
    .map((row) => row.version)
    .sort((a, b) => a - b);

/** The sweeper's cron at `at`, as the runtime runs it; its report (the "sweep finished" log line). */
async function sweepAt(at: Date): Promise<Record<string, unknown>> {
  const lines = await captureLines(async () => {
    const controller = createScheduledController({ scheduledTime: at, cron: "*/10 * * * *" });
    // The stack logs errors only; the report is an info line.
    await worker.scheduled(controller, { ...testEnv, LOG_LEVEL: "info" }, createExecutionContext());
  });
  vi.restoreAllMocks();
  const report = lines.find((line) => line.message === "sweep finished");
  if (!report) throw new Error("no sweep report");
  return report;
}

describe("version retention (the sweeper)", () => {
  it("keeps the newest 20, one a day for 30 days, and the current version; prunes the rest with what only they named", async () => {
    const at = new Date();
    const { id, keyOf, thumbnailOf } = await documentWithHistory(at);

    const report = await sweepAt(at);
    expect(report).toMatchObject({ versionsPruned: 3, versionObjectsDeleted: 2 });
    // 1 and 2: older than 30 days; 4: not the newest of its day. 3 and 5 stand for their days.
    expect(await versionsLeft(id)).toEqual([3, 5, ...Array.from({ length: 20 }, (_, i) => i + 6)]);
    // Version 1's object and thumbnail stay: the current version (its restore) names them.
    expect(await storage.head(keyOf(1))).not.toBeNull();
    expect(await thumbnails.head(thumbnailOf(1))).not.toBeNull();
    for (const version of [2, 4]) {
      expect(await storage.head(keyOf(version))).toBeNull();
      expect(await thumbnails.head(thumbnailOf(version))).toBeNull();
    }
    for (const version of [3, 5, 6, 24]) {
      expect(await storage.head(keyOf(version))).not.toBeNull();
      expect(await thumbnails.head(thumbnailOf(version))).not.toBeNull();
    }
    // Their text goes with them; the intents that guarded the deletion are gone once it succeeded.
    const texts = await asSystem((tx) =>
      tx.select({ version: documentContent.version }).from(documentContent).where(eq(documentContent.documentId, id)),
    );
    expect(texts.map((row) => row.version).sort((a, b) => a - b)).toEqual([25]);
    const intents = await asSystem((tx) =>
      tx
        .select()
        .from(uploadIntents)
        .where(and(eq(uploadIntents.storageKey, keyOf(2)))),
    );
    expect(intents).toEqual([]);

    // Nothing more to prune: the next run leaves the document alone.
    expect(await sweepAt(at)).toMatchObject({ versionsPruned: 0, versionObjectsDeleted: 0 });
    expect(await versionsLeft(id)).toHaveLength(22);
  });

  it("prunes at most its batch per run, and never a deleted document's versions", async () => {
    const at = new Date();
    const { id } = await documentWithHistory(at);
    const retention = versionRetentionAt({ keepLatest: 20, dailyDays: 30 }, at);
    const first = await asSystem((tx) => pruneVersions(tx, { documentIds: [id], retention, limit: 1 }));
    expect(first.versions).toBe(1);
    expect(await versionsLeft(id)).toHaveLength(24);

    await asSystem((tx) => tx.update(documents).set({ deletedAt: new Date() }).where(eq(documents.id, id)));
    const deleted = await asSystem((tx) => pruneVersions(tx, { documentIds: [id], retention, limit: 100 }));
    expect(deleted.versions).toBe(0);
    expect(await versionsLeft(id)).toHaveLength(24);
  });
});
