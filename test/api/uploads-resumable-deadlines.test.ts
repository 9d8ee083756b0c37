import { afterEach, describe, expect, it } from "vitest";
import { keysIn } from "../document-helpers.ts";
import { sha256Hex } from "../fixtures/files.ts";
import { apiWith, expectProblem, outage, outageBindings, outageUser } from "../helpers.ts";

// A resumable upload's completion whose CompleteMultipartUpload passes its deadline (S3 frozen with
// SIGSTOP on the outage stack, as in deadlines.test.ts): the store may still carry it out once it
// thaws, so the completion keeps what may be the object, and the next completion records it.

const outageEnv = outageBindings() as Record<string, string>;
const bindings = { ...outageEnv, S3_TIMEOUT_MS: "1000" };

let frozen = false;
afterEach(async () => {
  if (frozen) await outage("s3", "resume");
  frozen = false;
});

describe("resumable uploads: a completion past its storage deadline", () => {
  it("answers 503; the next completion records the document, assembled by then or now", async () => {
    const auth = await outageUser();
    const bytes = new TextEncoder().encode("a line of text\n".repeat(200));
    const created = await apiWith(bindings, "/uploads", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ contentType: "text/plain", size: bytes.length, sha256: await sha256Hex(bytes) }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const part = await apiWith(bindings, `/uploads/${id}/parts/1`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/octet-stream" },
      body: bytes,
    });
    expect(part.status).toBe(200);

    await outage("s3", "pause");
    frozen = true;
    const late = await expectProblem(
      await apiWith(bindings, `/uploads/${id}/complete`, { method: "POST", headers: auth }),
      503,
    );
    expect(late.detail).toContain("storage");
    await outage("s3", "resume");
    frozen = false;

    const done = await apiWith(bindings, `/uploads/${id}/complete`, { method: "POST", headers: auth });
    expect(done.status).toBe(201);
    const { documentId } = (await done.json()) as { documentId: string };
    expect(await keysIn(outageEnv, `documents/${documentId}/`)).toHaveLength(1);
    const document = await apiWith(bindings, `/documents/${documentId}`, { headers: auth });
    expect(await document.json()).toMatchObject({ sizeBytes: bytes.length });
  });
});
