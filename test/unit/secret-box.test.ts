import { describe, expect, it } from "vitest";
import { generateApiKey, parseApiKey } from "../../src/auth/api-keys.ts";
import { createSecretBox, keyId, sealedKeyId } from "../../src/pkg/crypto/secret-box.ts";

const key = (fill: string) => btoa(fill.repeat(32));
const [oldKey, newKey, otherKey] = [key("o"), key("n"), key("x")];

/**
 * Sealed by the code before key ids (commit 5b84c5b, `v1.<iv>.<ciphertext>`) under `oldKey` for the
 * purpose "mfa-secret": what databases hold today must stay readable.
 */
const SEALED_BEFORE_KEY_IDS = "v1.GKZRjAr_7Q68U7ec.C5i3JyLDwmkPXgy5EOtjk8scO1nQH2kY6JfNILGdk7Q";

describe("the secret box's keys", () => {
  it("seals under the current key and names it", async () => {
    const box = await createSecretBox({ current: newKey, previous: [oldKey] });
    const sealed = await box.seal("JBSWY3DPEHPK3PXP");
    expect(sealedKeyId(sealed)).toBe(await keyId(newKey));
    expect(box.isCurrent(sealed)).toBe(true);
    expect(await box.open(sealed)).toBe("JBSWY3DPEHPK3PXP");
    // The new key alone opens it; the old key alone does not know its key id.
    expect(await (await createSecretBox(newKey)).open(sealed)).toBe("JBSWY3DPEHPK3PXP");
    await expect((await createSecretBox(oldKey)).open(sealed)).rejects.toThrow("not configured");
  });

  it("opens what a previous key sealed, which is then not current", async () => {
    const sealed = await (await createSecretBox(oldKey)).seal("webhook secret");
    const rotated = await createSecretBox({ current: newKey, previous: [otherKey, oldKey] });
    expect(await rotated.open(sealed)).toBe("webhook secret");
    expect(rotated.isCurrent(sealed)).toBe(false);
    await expect((await createSecretBox(newKey)).open(sealed)).rejects.toThrow("not configured");
  });

  it("opens a value sealed before key ids with whichever configured key sealed it", async () => {
    const rotated = await createSecretBox({ current: newKey, previous: [oldKey] });
    expect(await rotated.open(SEALED_BEFORE_KEY_IDS)).toBe("JBSWY3DPEHPK3PXP");
    expect(rotated.isCurrent(SEALED_BEFORE_KEY_IDS)).toBe(false);
    expect(sealedKeyId(SEALED_BEFORE_KEY_IDS)).toBeUndefined();
    // Without the key that sealed it, GCM's tag fails under every key tried.
    await expect(
      (await createSecretBox({ current: newKey, previous: [otherKey] })).open(SEALED_BEFORE_KEY_IDS),
    ).rejects.toThrow();
  });

  it("keeps a value readable by a release without key ids, which reads three parts", async () => {
    const sealed = await (await createSecretBox(oldKey)).seal("mid-release");
    const [version, iv, data] = sealed.split(".");
    expect(await (await createSecretBox(oldKey)).open([version, iv, data].join("."))).toBe("mid-release");
  });

  it("never opens a value of one purpose as another, whatever the key", async () => {
    const sealed = await (await createSecretBox(oldKey, "webhook-secret")).seal("whsec_x");
    await expect((await createSecretBox({ current: newKey, previous: [oldKey] })).open(sealed)).rejects.toThrow();
  });

  it("refuses a tampered key id, an extra part and a wrong-length key", async () => {
    const sealed = await (await createSecretBox(newKey)).seal("x");
    await expect((await createSecretBox(newKey)).open(`${sealed}.more`)).rejects.toThrow("unrecognised");
    await expect((await createSecretBox(newKey)).open(sealed.replace(/\.[^.]+$/, ".AAAAAAAA"))).rejects.toThrow(
      "not configured",
    );
    await expect(createSecretBox({ current: newKey, previous: [btoa("short")] })).rejects.toThrow("32 bytes");
  });

  it("gives each key its own id, the same every time", async () => {
    expect(await keyId(oldKey)).toBe(await keyId(oldKey));
    expect(await keyId(oldKey)).not.toBe(await keyId(newKey));
    expect(await keyId(oldKey)).toMatch(/^[A-Za-z0-9_-]{8}$/);
  });
});

describe("API key tags across a rotation", () => {
  const userId = "0192c0de-0000-7000-8000-000000000001";

  it("accepts a key tagged under a previous key, and tags new keys under the current one", async () => {
    const before = await generateApiKey(userId, oldKey);
    const after = await generateApiKey(userId, { current: newKey, previous: [oldKey] });
    const rotated = { current: newKey, previous: [oldKey] };
    expect(await parseApiKey(before.key, rotated)).toEqual({ userId, hash: before.hash });
    expect(await parseApiKey(after.key, newKey)).toEqual({ userId, hash: after.hash });
    // Once the old key is removed, what it tagged is refused in the isolate.
    expect(await parseApiKey(before.key, newKey)).toBeUndefined();
  });
});
