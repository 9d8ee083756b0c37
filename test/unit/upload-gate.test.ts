import { describe, expect, it } from "vitest";
import {
  DOCUMENT_UPLOAD_BYTES,
  documentUploadWeight,
  UploadGate,
  UploadGateFullError,
  withUploadRoom,
} from "../../src/documents/upload-gate.ts";
import { ApiError } from "../../src/pkg/errors/api-error.ts";
import { PART_BYTES } from "../../src/pkg/storage/storage.ts";

describe("the upload gate", () => {
  it("admits holders while their bytes fit, and the next one once room is released", async () => {
    const gate = new UploadGate(100);
    const first = await gate.enter(60, 0);
    const second = await gate.enter(40, 0);
    expect(gate.held).toBe(100);
    await expect(gate.enter(1, 0)).rejects.toBeInstanceOf(UploadGateFullError);
    const waiting = gate.enter(50, 60_000);
    expect(gate.waiting).toBe(1);
    first();
    first(); // a second release is no release
    const third = await waiting;
    expect(gate.held).toBe(90);
    second();
    third();
    expect(gate.held).toBe(0);
  });

  it("a holder larger than the gate enters alone", async () => {
    const gate = new UploadGate(10);
    const big = await gate.enter(25, 0);
    await expect(gate.enter(1, 0)).rejects.toBeInstanceOf(UploadGateFullError);
    big();
    (await gate.enter(1, 0))();
  });

  it("in arrival order: a small request does not pass a larger one waiting before it", async () => {
    const gate = new UploadGate(100);
    const held = await gate.enter(70, 0);
    const large = gate.enter(60, 60_000);
    // 20 would fit, but the large one came first.
    await expect(gate.enter(20, 0)).rejects.toBeInstanceOf(UploadGateFullError);
    held();
    (await large)();
    expect(gate.held).toBe(0);
  });

  it("withUploadRoom: 503 with Retry-After when no room comes in time; the room is given back after the work", async () => {
    const gate = new UploadGate(10);
    const refusal = await withUploadRoom(5, () => withUploadRoom(6, async () => "never", { gate, waitMs: 0 }), {
      gate,
    }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(ApiError);
    expect(refusal).toMatchObject({ code: "service_unavailable", headers: { "Retry-After": "2" } });
    expect(gate.held).toBe(0);
    await expect(withUploadRoom(10, async () => Promise.reject(new Error("boom")), { gate })).rejects.toThrow("boom");
    expect(gate.held).toBe(0);
  });

  it("a POST /documents body weighs one part plus its Content-Length when small, else the measured 22 MiB", () => {
    expect(documentUploadWeight(2_000)).toBe(PART_BYTES + 2_000);
    expect(documentUploadWeight(100 * 1024 * 1024)).toBe(DOCUMENT_UPLOAD_BYTES);
    expect(documentUploadWeight(undefined)).toBe(DOCUMENT_UPLOAD_BYTES);
    expect(documentUploadWeight(Number.NaN)).toBe(DOCUMENT_UPLOAD_BYTES);
  });
});
