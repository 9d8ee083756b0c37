import { describe, expect, it } from "vitest";
import { STAGING_PASSWORD_ITERATIONS, stagingPasswordHash } from "../../scripts/staging/password.ts";
import { createPasswordHasher } from "../../src/auth/password-hasher.ts";

describe("the staging password's hash", () => {
  it("is one the application's hasher verifies, for that password only, without asking for a re-hash", async () => {
    const salt = new Uint8Array(16).map((_, i) => i * 7);
    const stored = await stagingPasswordHash("staging password", salt);
    expect(stored).toBe(await stagingPasswordHash("staging password", salt));
    const hasher = createPasswordHasher({ iterations: STAGING_PASSWORD_ITERATIONS });
    expect(await hasher.verify("staging password", stored)).toEqual({ valid: true, needsRehash: false });
    expect((await hasher.verify("corpus password", stored)).valid).toBe(false);
  });
});
