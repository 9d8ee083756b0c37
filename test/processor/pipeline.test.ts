import { PhotonImage } from "@cf-wasm/photon";
import { eq } from "drizzle-orm";
import { zipSync } from "fflate";
import { afterEach, describe, expect, it, vi } from "vitest";
import { documentVersions } from "../../src/db/schema/documents.ts";
import { DOCX } from "../../src/documents/content-types.ts";
import { buildEvent, SystemPingSchema } from "../../src/pkg/queue/events.ts";
import { BASE_DELAY_SECONDS } from "../../src/processor/backoff.ts";
import { corruptPdf, docx, EICAR, flatePdf, gif, jpeg, pdf, png, webp } from "../fixtures/files.ts";
import {
  asSystem,
  contentOf,
  deliver,
  documentOf,
  eventually,
  notificationsOf,
  testEnv,
  thumbnails,
  uploadedDocument,
  uploadedEvent,
  versionOf,
} from "./helpers.ts";

afterEach(() => vi.restoreAllMocks());

/** Nothing listens on port 1. */
const CLAMD_DOWN = { CLAMD_ADDRESS: "127.0.0.1:1" };

describe("the document pipeline", () => {
  it("scans, indexes and readies a text document, and notifies its owner once", async () => {
    const doc = await uploadedDocument("Quarterly numbers are up. Revenue grew.\n", "text/plain", { title: "Q3" });
    const { ids, result } = await deliver("document-events", [uploadedEvent(doc.documentId)]);
    expect(result.explicitAcks).toEqual(ids);

    const version = await versionOf(doc.documentId);
    expect(version).toMatchObject({ status: "ready", scanResult: "clean", failureReason: null, thumbnailKey: null });
    expect(version?.processedAt).toBeInstanceOf(Date);
    // The document mirrors its current version.
    expect(await documentOf(doc.documentId)).toMatchObject({ status: "ready", scanResult: "clean" });
    expect(await contentOf(doc.documentId)).toMatchObject({
      text: "Quarterly numbers are up. Revenue grew.",
      truncated: false,
    });

    // The notification goes through the real notifications queue to the Notification Service.
    const [notification] = await eventually(async () => {
      const rows = await notificationsOf(doc.ownerId);
      return rows.length > 0 ? rows : undefined;
    });
    expect(notification).toMatchObject({ type: "document.ready", title: "“Q3” is ready", readAt: null });
    expect(notification?.data).toMatchObject({ documentId: doc.documentId, version: 1 });
  });

  it("does no work twice: a redelivered event is acked and changes nothing", async () => {
    const doc = await uploadedDocument("some content", "text/plain");
    const event = uploadedEvent(doc.documentId);
    await deliver("document-events", [event]);
    const first = { version: await versionOf(doc.documentId), content: await contentOf(doc.documentId) };

    const { result } = await deliver("document-events", [event], {}, 2);
    expect(result.explicitAcks).toHaveLength(1);
    expect(await versionOf(doc.documentId)).toEqual(first.version);
    // Not extracted again: the row keeps its first extraction time.
    expect(await contentOf(doc.documentId)).toEqual(first.content);
    await eventually(async () => ((await notificationsOf(doc.ownerId)).length > 0 ? true : undefined));
    // Give a second notification time to arrive if one had been sent.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await notificationsOf(doc.ownerId)).toHaveLength(1);
  });

  it("handles the same event twice in one batch (concurrent delivery) with one outcome", async () => {
    const doc = await uploadedDocument("twice at once", "text/plain");
    const event = uploadedEvent(doc.documentId);
    const { result } = await deliver("document-events", [event, event]);
    expect(result.explicitAcks).toHaveLength(2);
    expect((await versionOf(doc.documentId))?.status).toBe("ready");
    await eventually(async () => ((await notificationsOf(doc.ownerId)).length > 0 ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await notificationsOf(doc.ownerId)).toHaveLength(1);
  });

  it("quarantines a file with malware (EICAR) and tells the owner", async () => {
    const doc = await uploadedDocument(EICAR, "text/plain", { title: "totally safe" });
    await deliver("document-events", [uploadedEvent(doc.documentId)]);
    const version = await versionOf(doc.documentId);
    expect(version).toMatchObject({ status: "quarantined", scanResult: "infected", failureReason: "malware_detected" });
    // The signature is the operator's detail; the owner sees the code.
    expect(version?.failureDetail).toMatch(/^malware found: Eicar-Test-Signature/);
    expect(await documentOf(doc.documentId)).toMatchObject({ failureReason: "malware_detected" });
    expect(await contentOf(doc.documentId)).toBeUndefined();
    const [notification] = await eventually(async () => {
      const rows = await notificationsOf(doc.ownerId);
      return rows.length > 0 ? rows : undefined;
    });
    expect(notification).toMatchObject({
      type: "document.quarantined",
      title: "“totally safe” was quarantined",
      body: "Version 1 was quarantined: it contains malware and will not be served.",
      data: { documentId: doc.documentId, version: 1, reason: "malware_detected" },
    });
  });

  it("fails a corrupt PDF with a reason code, the parser's message kept for operators", async () => {
    const doc = await uploadedDocument(corruptPdf(), "application/pdf");
    const { result } = await deliver("document-events", [uploadedEvent(doc.documentId)]);
    expect(result.explicitAcks).toHaveLength(1);
    const version = await versionOf(doc.documentId);
    expect(version).toMatchObject({ status: "failed", scanResult: "clean", failureReason: "unsupported_content" });
    expect(version?.failureDetail).toMatch(/^the PDF could not be read: /);
    const [notification] = await eventually(async () => {
      const rows = await notificationsOf(doc.ownerId);
      return rows.length > 0 ? rows : undefined;
    });
    expect(notification).toMatchObject({
      type: "document.failed",
      data: { documentId: doc.documentId, version: 1, reason: "unsupported_content" },
    });
    expect(JSON.stringify(notification)).not.toContain("could not be read");
  });

  it("fails a file past an extraction bound as file_too_complex, acked and never retried", async () => {
    // A DOCX whose text part inflates to 40 MiB (past the 32 MiB bound) from about 40 KB, and a
    // PDF whose content stream does the same: pdf.js would hold it whole and end the isolate.
    const bomb = zipSync({ "word/document.xml": new Uint8Array(40 * 1024 * 1024).fill(0x20) }, { level: 9 });
    const docxBomb = await uploadedDocument(bomb, DOCX);
    const pdfBomb = await uploadedDocument(flatePdf(new Uint8Array(40 * 1024 * 1024).fill(0x20)), "application/pdf");
    const { ids, result } = await deliver("document-events", [
      uploadedEvent(docxBomb.documentId),
      uploadedEvent(pdfBomb.documentId),
    ]);
    expect(new Set(result.explicitAcks)).toEqual(new Set(ids));
    expect(result.retryMessages).toEqual([]);
    for (const doc of [docxBomb, pdfBomb]) {
      const version = await versionOf(doc.documentId);
      expect(version).toMatchObject({ status: "failed", failureReason: "file_too_complex" });
      expect(version?.failureDetail).toMatch(/inflates beyond/);
      expect(await documentOf(doc.documentId)).toMatchObject({ status: "failed", failureReason: "file_too_complex" });
    }
  });

  it("fails a file whose processing ended the isolate twice as file_too_complex, without another try", async () => {
    // As deliveries leave a version when the runtime ends the isolate while they extract (CPU or
    // memory limit): processing, with starts that no code after them could count as finished.
    const endedBy = async (starts: number) => {
      const doc = await uploadedDocument("plain text", "text/plain");
      await asSystem((tx) =>
        tx
          .update(documentVersions)
          .set({ status: "processing", scanResult: "clean", extractionStarts: starts })
          .where(eq(documentVersions.documentId, doc.documentId)),
      );
      return doc;
    };
    const twice = await endedBy(2);
    const once = await endedBy(1);
    const { ids, result } = await deliver("document-events", [
      uploadedEvent(twice.documentId),
      uploadedEvent(once.documentId),
    ]);
    expect(new Set(result.explicitAcks)).toEqual(new Set(ids));
    expect(result.retryMessages).toEqual([]);
    expect(await versionOf(twice.documentId)).toMatchObject({
      status: "failed",
      failureReason: "file_too_complex",
      extractionStarts: 0,
    });
    // One unfinished start is forgiven: an isolate also ends for reasons of its own.
    expect(await versionOf(once.documentId)).toMatchObject({ status: "ready", extractionStarts: 0 });
  });

  it("fails a version whose stored object is missing, or differs from what was uploaded", async () => {
    const missing = await uploadedDocument("gone", "text/plain", { store: false });
    const tampered = await uploadedDocument("what is stored", "text/plain", {
      recordedBytes: new TextEncoder().encode("what was uploaded"),
    });
    const { result } = await deliver("document-events", [
      uploadedEvent(missing.documentId),
      uploadedEvent(tampered.documentId),
    ]);
    expect(result.explicitAcks).toHaveLength(2);
    expect(await versionOf(missing.documentId)).toMatchObject({
      status: "failed",
      failureReason: "processing_failed",
      failureDetail: "the stored object is missing",
    });
    expect(await versionOf(tampered.documentId)).toMatchObject({ failureReason: "processing_failed" });
    expect((await versionOf(tampered.documentId))?.failureDetail).toMatch(/does not match the upload/);
  });

  it("extracts the text of PDF, DOCX, HTML and Markdown", async () => {
    const cases = [
      {
        bytes: pdf(["Invoice 2026-0042", "Total due: 1,200 EUR"]),
        type: "application/pdf",
        expect: ["Invoice 2026-0042", "Total due: 1,200 EUR"],
      },
      {
        bytes: docx(["Meeting notes", "Decisions & actions"]),
        type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        expect: ["Meeting notes\nDecisions & actions"],
      },
      {
        bytes:
          "<html><head><title>t</title><style>p{}</style></head><body><h1>Release&nbsp;plan</h1><script>var secret = 1</script><p>Ship &amp; tell</p></body></html>",
        type: "text/html",
        expect: ["Release plan\n", "Ship & tell"],
        absent: ["secret", "p{}"],
      },
      {
        bytes: "# Roadmap\n\n- **Search** first\n- then _analytics_\n",
        type: "text/markdown",
        expect: ["Roadmap", "Search first", "then analytics"],
        absent: ["**", "#"],
      },
    ];
    const docs = await Promise.all(cases.map((c) => uploadedDocument(c.bytes, c.type)));
    await deliver(
      "document-events",
      docs.map((d) => uploadedEvent(d.documentId)),
    );
    for (const [i, c] of cases.entries()) {
      const doc = docs[i];
      if (!doc) throw new Error("missing");
      expect((await versionOf(doc.documentId))?.status, c.type).toBe("ready");
      const content = await contentOf(doc.documentId);
      for (const piece of c.expect) expect(content?.text, c.type).toContain(piece);
      for (const piece of c.absent ?? []) expect(content?.text, c.type).not.toContain(piece);
    }
  });

  it("makes a WebP thumbnail of at most 256 px for PNG, JPEG, WebP and GIF", async () => {
    const images = [
      { bytes: png(640, 480), type: "image/png", size: [256, 192] },
      { bytes: jpeg(300, 900), type: "image/jpeg", size: [85, 256] },
      { bytes: webp(512, 512), type: "image/webp", size: [256, 256] },
      { bytes: gif(320, 200), type: "image/gif", size: [256, 160] },
      // Smaller than the box: not enlarged.
      { bytes: png(100, 40), type: "image/png", size: [100, 40] },
    ];
    const docs = await Promise.all(images.map((image) => uploadedDocument(image.bytes, image.type)));
    await deliver(
      "document-events",
      docs.map((d) => uploadedEvent(d.documentId)),
    );
    for (const [i, image] of images.entries()) {
      const version = await versionOf(docs[i]?.documentId ?? "");
      expect(version?.status, image.type).toBe("ready");
      expect(version?.thumbnailKey, image.type).toBe(`documents/${docs[i]?.documentId}/v1.webp`);
      const object = await thumbnails.get(version?.thumbnailKey ?? "");
      expect(object?.contentType).toBe("image/webp");
      const bytes = new Uint8Array(await new Response(object?.body).arrayBuffer());
      expect(new TextDecoder().decode(bytes.subarray(8, 12))).toBe("WEBP");
      const decoded = PhotonImage.new_from_byteslice(bytes);
      expect([decoded.get_width(), decoded.get_height()], image.type).toEqual(image.size);
      decoded.free();
    }
  });

  it("records that a version was not scanned when scanning is switched off", async () => {
    const doc = await uploadedDocument(EICAR, "text/plain");
    await deliver("document-events", [uploadedEvent(doc.documentId)], { VIRUS_SCAN: "off", CLAMD_ADDRESS: "" });
    expect(await versionOf(doc.documentId)).toMatchObject({ status: "ready", scanResult: "skipped" });
  });

  it("retries with backoff while clamd is unreachable, keeping the reason, and never marks it clean", async () => {
    const doc = await uploadedDocument("scan me later", "text/plain");
    for (const attempts of [1, 3]) {
      const { ids, result, delays } = await deliver(
        "document-events",
        [uploadedEvent(doc.documentId)],
        CLAMD_DOWN,
        attempts,
      );
      expect(result.explicitAcks).toEqual([]);
      expect(result.retryMessages).toEqual([{ msgId: ids[0] }]);
      const full = BASE_DELAY_SECONDS * 2 ** (attempts - 1);
      expect(delays.get(ids[0] ?? "")).toBeGreaterThanOrEqual(full / 2);
      expect(delays.get(ids[0] ?? "")).toBeLessThanOrEqual(full);
    }
    const version = await versionOf(doc.documentId);
    // Still in transit: no reason code yet, the transient error kept for operators only.
    expect(version).toMatchObject({ status: "scanning", scanResult: null, failureReason: null });
    expect(version?.failureDetail).toMatch(/cannot connect to clamd/);

    // Its retries exhausted, the message reaches the dead-letter queue: failed, with the last reason.
    const { result } = await deliver("document-events-dlq", [uploadedEvent(doc.documentId)]);
    expect(result.explicitAcks).toHaveLength(1);
    const failed = await versionOf(doc.documentId);
    expect(failed).toMatchObject({ status: "failed", failureReason: "processing_failed" });
    expect(failed?.failureDetail).toMatch(
      /^processing did not succeed within the retry limit: cannot connect to clamd/,
    );
    expect(await documentOf(doc.documentId)).toMatchObject({ failureReason: "processing_failed" });
    const [notification] = await eventually(async () => {
      const rows = await notificationsOf(doc.ownerId);
      return rows.length > 0 ? rows : undefined;
    });
    expect(notification).toMatchObject({ type: "document.failed", data: { reason: "processing_failed" } });
    // Neither the in-app notification nor the webhook payload made from it names the dependency.
    expect(JSON.stringify(notification)).not.toMatch(/clamd|127\.0\.0\.1/);

    // Once clamd is back, the same event finds the version final and leaves it alone.
    await deliver("document-events", [uploadedEvent(doc.documentId)]);
    expect((await versionOf(doc.documentId))?.status).toBe("failed");
  });

  it("leaves a version that already finished alone when a dead letter arrives late", async () => {
    const doc = await uploadedDocument("fine", "text/plain");
    await deliver("document-events", [uploadedEvent(doc.documentId)]);
    await deliver("document-events-dlq", [uploadedEvent(doc.documentId)]);
    expect((await versionOf(doc.documentId))?.status).toBe("ready");
  });

  it("acks an event for a document that no longer exists", async () => {
    const { result } = await deliver("document-events", [uploadedEvent(crypto.randomUUID())]);
    expect(result.explicitAcks).toHaveLength(1);
  });

  it("decides each message of a batch on its own", async () => {
    const ok = await uploadedDocument("ok", "text/plain");
    const { ids, result } = await deliver("document-events", [uploadedEvent(ok.documentId), { type: "nonsense" }]);
    expect(new Set(result.explicitAcks)).toEqual(new Set(ids));
    expect((await versionOf(ok.documentId))?.status).toBe("ready");
  });

  it("logs with the request id of the upload", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const doc = await uploadedDocument("logged", "text/plain");
    await deliver("document-events", [uploadedEvent(doc.documentId, 1, "req-from-upload")], { LOG_LEVEL: "info" });
    const processed = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.message === "message processed" && l.eventType === "document.uploaded");
    expect(processed).toMatchObject({ requestId: "req-from-upload", note: "ready" });
  });
});

describe("other messages", () => {
  it("acks pings", async () => {
    const { result } = await deliver("document-events", [
      buildEvent(SystemPingSchema, { type: "system.ping", requestId: "ready-check" }),
    ]);
    expect(result.explicitAcks).toHaveLength(1);
  });

  it("acks and logs a malformed message instead of retrying it forever", async () => {
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: unknown) => void errors.push(String(line)));
    const { result } = await deliver("document-events", [{ type: "document.uploaded", documentId: "not-a-uuid" }]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(errors.some((line) => line.includes("malformed message dropped"))).toBe(true);
  });

  it("retries the whole batch when its configuration is invalid (fails closed)", async () => {
    await expect(
      deliver("document-events", [uploadedEvent(crypto.randomUUID())], { DATABASE_URL: "" }),
    ).rejects.toThrow(/DATABASE_URL/);
  });

  it("is configured to scan: VIRUS_SCAN=required without an address is refused", async () => {
    await expect(
      deliver("document-events", [uploadedEvent(crypto.randomUUID())], { CLAMD_ADDRESS: "" }),
    ).rejects.toThrow(/CLAMD_ADDRESS/);
    expect(testEnv.VIRUS_SCAN).toBe("required");
  });
});
