import { describe, expect, it } from "vitest";
import { constantTimeEqual, createPasswordHasher, MAX_PBKDF2_ITERATIONS } from "../../src/auth/password-hasher.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { testEnv } from "./env.ts";

describe("PBKDF2 iteration count", () => {
  // Production Workers refuse PBKDF2 above 100,000 iterations and workerd here does not, so this
  // is the only place a too-high setting would be caught before deploying.
  it("configured for production (wrangler.toml) is at most 100,000", () => {
    expect(Number(testEnv.PBKDF2_ITERATIONS)).toBeGreaterThan(0);
    expect(Number(testEnv.PBKDF2_ITERATIONS)).toBeLessThanOrEqual(100_000);
    expect(MAX_PBKDF2_ITERATIONS).toBe(100_000);
  });

  it("above 100,000 is refused by the configuration and by the hasher", () => {
    expect(() => loadApiConfig({ ...testEnv, PBKDF2_ITERATIONS: "100001" })).toThrow(/PBKDF2_ITERATIONS/);
    expect(() => createPasswordHasher({ iterations: 100_001 })).toThrow(RangeError);
  });
});

describe("PasswordHasher", () => {
  const hasher = createPasswordHasher({ iterations: 20_000 });

  it("stores the algorithm and parameters with a random salt", async () => {
    const [a, b] = await Promise.all([hasher.hash("secret password"), hasher.hash("secret password")]);
    expect(a).toMatch(/^pbkdf2_sha256\$20000\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    expect(a).not.toBe(b);
  });

  it("verifies the right password and refuses others", async () => {
    const stored = await hasher.hash("correct horse");
    expect(await hasher.verify("correct horse", stored)).toEqual({ valid: true, needsRehash: false });
    expect((await hasher.verify("correct horsE", stored)).valid).toBe(false);
    expect((await hasher.verify("", stored)).valid).toBe(false);
  });

  it("treats canonically equal Unicode the same", async () => {
    const stored = await hasher.hash("caf\u00e9");
    expect((await hasher.verify("cafe\u0301", stored)).valid).toBe(true);
  });

  it("asks for a re-hash when the stored parameters are weaker than today's", async () => {
    const old = await createPasswordHasher({ iterations: 10_000 }).hash("pw");
    expect(await hasher.verify("pw", old)).toEqual({ valid: true, needsRehash: true });
  });

  it("never verifies a malformed or unusable hash", async () => {
    for (const stored of ["!", "", "md5$abc", "pbkdf2_sha256$999999999$AAAA$AAAA", "pbkdf2_sha256$10$%%%$***"]) {
      expect((await hasher.verify("pw", stored)).valid).toBe(false);
    }
  });

  it("compares in constant time, by length first", () => {
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3]))).toBe(true);
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3]))).toBe(false);
  });
});
