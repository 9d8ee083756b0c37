import { describe, expect, it } from "vitest";
import { uploadGate } from "../../src/documents/upload-gate.ts";
import { signedIn } from "../auth-helpers.ts";
import { sha256Hex } from "../fixtures/files.ts";
import { apiWith, eventually, expectProblem } from "../helpers.ts";

// The isolate's upload gate (src/documents/upload-gate.ts) as requests meet it. `apiWith` runs the
// app in this test's isolate, so the test holds the same gate the requests wait on: it takes all of
// it, as uploads in flight would, and lets go when it chooses.

type Auth = Record<string, string>;

const rawUpload = (auth: Auth, title: string) =>
  apiWith({}, `/documents?title=${encodeURIComponent(title)}`, {
    method: "POST",
    headers: { ...auth, "content-type": "text/plain" },
    body: "gated content",
  });

describe("the upload gate", () => {
  it("an upload finding the gate full waits for room, and goes on once there is", async () => {
    const { auth } = await signedIn();
    const release = await uploadGate.enter(uploadGate.capacity, 0);
    const answer = rawUpload(auth, "waited");
    try {
      await eventually(async () => (uploadGate.waiting === 1 ? true : undefined));
    } finally {
      release();
    }
    expect((await answer).status).toBe(201);
    expect(uploadGate.held).toBe(0);
  });

  it("when no room comes in time: 503 with Retry-After, for POST /documents and for a part (not recorded)", async () => {
    const { auth } = await signedIn();
    const bytes = new TextEncoder().encode("a resumable part\n");
    const created = await apiWith({}, "/uploads", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ contentType: "text/plain", size: bytes.length, sha256: await sha256Hex(bytes) }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };

    const release = await uploadGate.enter(uploadGate.capacity, 0);
    try {
      const [document, part] = await Promise.all([
        rawUpload(auth, "refused"),
        apiWith({}, `/uploads/${id}/parts/1`, {
          method: "PUT",
          headers: { ...auth, "content-type": "application/octet-stream" },
          body: bytes,
        }),
      ]);
      for (const res of [document, part]) {
        expect(res.headers.get("retry-after")).toBe("2");
        await expectProblem(res, 503);
      }
    } finally {
      release();
    }
    const state = await apiWith({}, `/uploads/${id}`, { headers: auth });
    expect(await state.json()).toMatchObject({ status: "open", parts: [] });
  });
});
