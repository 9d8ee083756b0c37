import { describe, expect, it } from "vitest";
import type { Document, DocumentVersion } from "../../src/db/schema/documents.ts";
import { outcomeNotification } from "../../src/processor/documents/notify.ts";

// What the owner reads when processing of a version ends; the queue path is tested in
// test/processor/notifications.test.ts.

const document = { id: crypto.randomUUID(), ownerId: crypto.randomUUID(), title: "Plan" } as Document;
const version = (fields: Partial<DocumentVersion>) =>
  ({
    version: 2,
    status: "ready",
    scanResult: "clean",
    failureReason: null,
    updatedAt: new Date(),
    ...fields,
  }) as DocumentVersion;

describe("the outcome notification of a version", () => {
  it("says a clean version was scanned", async () => {
    const notification = await outcomeNotification("req-unit", document, version({}));
    expect(notification).toMatchObject({
      kind: "document.ready",
      title: "“Plan” is ready",
      body: "Version 2 was scanned, indexed and is available.",
      userId: document.ownerId,
    });
  });

  it("does not claim a scan when scanning was off (scan result `skipped`)", async () => {
    const notification = await outcomeNotification("req-unit", document, version({ scanResult: "skipped" }));
    expect(notification?.body).toBe("Version 2 was indexed and is available (not scanned for malware).");
  });

  it("names the reason of a quarantine, and announces nothing while in transit", async () => {
    const quarantined = version({ status: "quarantined", scanResult: "infected", failureReason: "malware_detected" });
    const notification = await outcomeNotification("req-unit", document, quarantined);
    expect(notification?.kind).toBe("document.quarantined");
    expect(notification?.data).toMatchObject({ reason: "malware_detected" });
    expect(await outcomeNotification("req-unit", document, version({ status: "scanning" }))).toBeUndefined();
  });
});
