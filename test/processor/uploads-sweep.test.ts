import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { removeUploads } from "../../src/db/queries/uploads.ts";
import { uploads } from "../../src/db/schema/uploads.ts";
import { createS3Multipart } from "../../src/pkg/storage/multipart.ts";
import { asSystem, config, newUser, runSweep } from "./helpers.ts";

const multipart = createS3Multipart(config.storage);

/** A resumable upload as POST /uploads and one PUT of a part leave it, expiring `expiresIn` from now. */
async function openUpload(expiresIn: string) {
  const ownerId = await newUser();
  const documentId = crypto.randomUUID();
  const key = `documents/${documentId}/${crypto.randomUUID()}`;
  const uploadId = await multipart.create(key, { contentType: "text/plain" });
  await multipart.uploadPart({ key, uploadId }, 1, new TextEncoder().encode("a part"));
  const [row] = await asSystem((tx) =>
    tx
      .insert(uploads)
      .values({
        ownerId,
        documentId,
        storageKey: key,
        multipartUploadId: uploadId,
        contentType: "text/plain",
        sizeBytes: 6,
        sha256: "0".repeat(64),
        title: "swept",
        partBytes: 5 * 1024 * 1024,
        partCount: 1,
        expiresAt: sql`now() + ${expiresIn}::interval`,
      })
      .returning(),
  );
  if (!row) throw new Error("no row");
  return { id: row.id, key, uploadId };
}

const rowOf = (id: string) => asSystem(async (tx) => (await tx.select().from(uploads).where(eq(uploads.id, id)))[0]);

describe("the sweeper and resumable uploads", () => {
  it("aborts uploads past their time (the store's parts and the rows) and leaves open ones alone", async () => {
    const expired = await openUpload("-1 minute");
    const open = await openUpload("23 hours");
    expect(await multipart.listParts(expired)).toHaveLength(1);

    await runSweep();

    expect(await multipart.listParts(expired)).toBeNull();
    expect(await rowOf(expired.id)).toBeUndefined();
    expect(await multipart.listParts(open)).toHaveLength(1);
    expect(await rowOf(open.id)).toMatchObject({ status: "open" });
    await multipart.abort(open);
  });

  it("removes only uploads still expired when it gets to them: a row taken meanwhile stays", async () => {
    const expired = await openUpload("-1 minute");
    const renewed = await openUpload("-1 minute");
    // Between the sweeper's read and its removal, a row stops being expired (say, given more time).
    await asSystem((tx) =>
      tx.update(uploads).set({ expiresAt: sql`now() + interval '1 hour'` }).where(eq(uploads.id, renewed.id)),
    );
    const removed = await asSystem((tx) => removeUploads(tx, { ids: [expired.id, renewed.id], before: new Date() }));
    expect(removed).toBe(1);
    expect(await rowOf(expired.id)).toBeUndefined();
    expect(await rowOf(renewed.id)).toMatchObject({ status: "open" });
    await multipart.abort(expired);
    await multipart.abort(renewed);
  });
});
