import { describe, expect, it } from "vitest";
import { DecodersBusyError, MAX_MARKDOWN_BYTES, withDecodeSlot } from "../../src/documents/convert.ts";
import { signedIn } from "../auth-helpers.ts";
import { bodyBytes, created, keysIn, processed, rawUpload } from "../document-helpers.ts";
import { png } from "../fixtures/files.ts";
import { api, expectProblem, testEnv } from "../helpers.ts";

const stackEnv = testEnv as unknown as Record<string, string>;
const thumbnailsBucket = stackEnv.S3_THUMBNAILS_BUCKET;

// OWASP API4:2023: converting an image decodes up to 12 megapixels; doing it on every request
// let anyone with read access spend the platform's memory and CPU at will.
describe("image renditions", () => {
  it("are made once per format, stored beside the thumbnails, served from there, and kept while the document is in the trash", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, png(300, 200), "image/png", { title: "photo" }));
    await processed(auth, doc.id);
    const prefix = `documents/${doc.id}/renditions/`;
    expect(await keysIn(stackEnv, prefix, thumbnailsBucket)).toEqual([]);

    const first = await api(`/documents/${doc.id}/content?format=webp`, { headers: auth });
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("image/webp");
    const made = await bodyBytes(first);
    expect(await keysIn(stackEnv, prefix, thumbnailsBucket)).toEqual([`${prefix}${doc.sha256}.webp`]);

    const again = await api(`/documents/${doc.id}/content?format=webp`, { headers: auth });
    expect(again.headers.get("content-length")).toBe(String(made.byteLength));
    expect(await bodyBytes(again)).toEqual(made);
    expect((await api(`/documents/${doc.id}/content?format=png`, { headers: auth })).status).toBe(200);
    expect((await keysIn(stackEnv, prefix, thumbnailsBucket)).sort()).toEqual([
      `${prefix}${doc.sha256}.png`,
      `${prefix}${doc.sha256}.webp`,
    ]);

    expect((await api(`/documents/${doc.id}`, { method: "DELETE", headers: auth })).status).toBe(204);
    // Kept for a restore; the sweeper's purge removes them (test/processor/sweeper.test.ts).
    expect((await keysIn(stackEnv, prefix, thumbnailsBucket)).sort()).toEqual([
      `${prefix}${doc.sha256}.png`,
      `${prefix}${doc.sha256}.webp`,
    ]);
  });

  it("are bounded per isolate: a conversion waits for a slot, and gives up when none frees in time", async () => {
    let release = () => {};
    const held = withDecodeSlot(() => new Promise<void>((resolve) => (release = resolve)));
    await expect(withDecodeSlot(async () => "never", 60)).rejects.toBeInstanceOf(DecodersBusyError);
    const waiting = withDecodeSlot(async () => "ran", 2_000);
    release();
    await held;
    expect(await waiting).toBe("ran");
  });

  it("Markdown above the rendering limit is a 422, not rendered", async () => {
    const { auth } = await signedIn();
    const big = `# Long\n\n${"word ".repeat(Math.ceil(MAX_MARKDOWN_BYTES / 5) + 10)}`;
    const doc = await created(rawUpload(auth, big, "text/markdown", { title: "long" }));
    await processed(auth, doc.id, 60_000);
    const problem = await expectProblem(await api(`/documents/${doc.id}/content?format=html`, { headers: auth }), 422);
    expect(problem.detail).toMatch(/html handles files up to 4194304 bytes/);
  });
});
