import { describe, expect, it } from "vitest";
import { WebCryptoSha256 } from "../../src/pkg/storage/web-crypto-sha256.ts";

describe("WebCryptoSha256 (the SDK's signing hash)", () => {
  const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

  it("hashes incrementally fed data like SHA-256 (FIPS 180-2 vector)", async () => {
    const hash = new WebCryptoSha256();
    hash.update("ab");
    hash.update(new TextEncoder().encode("c"));
    expect(hex(await hash.digest())).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hash.reset();
    expect(hex(await hash.digest())).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("is HMAC-SHA256 when given a secret (RFC 4231 test case 2)", async () => {
    const hmac = new WebCryptoSha256("Jefe");
    hmac.update("what do ya want ");
    hmac.update("for nothing?");
    expect(hex(await hmac.digest())).toBe("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  });
});
