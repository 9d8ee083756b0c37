import { describe, expect, it } from "vitest";
import { FAILURE_REASONS } from "../../src/documents/failure-reasons.ts";
import { signedIn, signedInAdmin } from "../auth-helpers.ts";
import { created, type NotificationPage, processed, rawUpload } from "../document-helpers.ts";
import { corruptPdf, EICAR } from "../fixtures/files.ts";
import { api, eventually, expectProblem } from "../helpers.ts";

describe("processing outcomes seen through the API", () => {
  it("EICAR: quarantined, content refused, owner notified", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, EICAR, "text/plain", { title: "invoice.txt" }));
    // Refused before the scan too (not scanned yet), never served in between.
    await expectProblem(await api(`/documents/${doc.id}/content`, { headers: auth }), 409);

    const done = await processed(auth, doc.id);
    // A stable code: the signature is the operators' detail.
    expect(done).toMatchObject({ status: "quarantined", scanResult: "infected", failureReason: "malware_detected" });
    const problem = await expectProblem(await api(`/documents/${doc.id}/content`, { headers: auth }), 409);
    expect(problem.detail).toMatch(/quarantined/);
    const page = await eventually(async () => {
      const body = (await (await api("/notifications", { headers: auth })).json()) as NotificationPage;
      return body.data.length > 0 ? body : undefined;
    });
    expect(page.data[0]?.type).toBe("document.quarantined");
  });

  it("a corrupt PDF ends failed with a reason code; the parser's message is for administrators only", async () => {
    const { auth } = await signedIn();
    const doc = await created(rawUpload(auth, corruptPdf(), "application/pdf", { title: "broken" }));
    const done = await processed(auth, doc.id);
    expect(done).toMatchObject({ status: "failed", failureReason: "unsupported_content" });
    const owners = (await (await api(`/documents/${doc.id}/versions`, { headers: auth })).json()) as {
      data: Record<string, unknown>[];
    };
    expect(owners.data[0]).toMatchObject({ failureReason: "unsupported_content" });
    expect(owners.data[0]).not.toHaveProperty("failureDetail");
    expect(JSON.stringify(owners)).not.toContain("could not be read");

    const admin = await signedInAdmin();
    const admins = (await (await api(`/documents/${doc.id}/versions`, { headers: admin.auth })).json()) as {
      data: Record<string, unknown>[];
    };
    expect(admins.data[0]?.failureDetail).toMatch(/^the PDF could not be read/);
  });
});

describe("failure reasons in the API's description", () => {
  it("documents failureReason as the closed set of codes, on documents, versions and notifications", async () => {
    const spec = (await (await api("/openapi.json")).json()) as {
      components: {
        schemas: Record<string, { properties: Record<string, { enum?: unknown[]; description?: string }> }>;
      };
    };
    const { Document, DocumentVersion, Notification } = spec.components.schemas;
    for (const schema of [Document, DocumentVersion]) {
      expect(schema?.properties.failureReason?.enum).toEqual([...FAILURE_REASONS, null]);
      expect(schema?.properties.failureReason?.description).toContain("file_too_complex");
    }
    expect(Notification?.properties.data?.description).toContain("malware_detected");
  });
});
