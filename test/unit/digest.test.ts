import { describe, expect, it } from "vitest";
import { sha256, sha256Hex, toHex } from "../../src/pkg/crypto/digest.ts";

describe("digests as hex", () => {
  it("writes every byte as two lowercase digits", () => {
    expect(toHex(new Uint8Array([0, 1, 15, 16, 171, 255]))).toBe("00010f10abff");
    expect(toHex(new Uint8Array([0xde, 0xad, 0xbe, 0xef]).buffer)).toBe("deadbeef");
    expect(toHex(new Uint8Array(0))).toBe("");
  });

  it("hashes UTF-8 with SHA-256 (FIPS 180-4 test vectors)", async () => {
    expect(await sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(await sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect((await sha256("abc")).byteLength).toBe(32);
    // "é" is two UTF-8 bytes, c3 a9.
    expect(await sha256Hex("é")).toBe(toHex(await crypto.subtle.digest("SHA-256", new Uint8Array([0xc3, 0xa9]))));
  });
});
