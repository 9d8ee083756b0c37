// The staging password's hash, in the stored format of src/auth/password-hasher.ts
// (`pbkdf2_sha256$<iterations>$<salt>$<key>`, standard base64), which the workers verify. Written
// with WebCrypto alone so that test/unit checks it with the application's own hasher in workerd;
// the hasher itself cannot run in Node (its constant-time comparison is a Workers extension).
// The salt is the caller's (the refresh derives it from the seed), so two refreshes with one seed
// store one hash: a salt protects secret passwords, and this one is published in the README.

/** The hasher's `MAX_PBKDF2_ITERATIONS`: today's count, so no sign-in asks for a re-hash. */
export const STAGING_PASSWORD_ITERATIONS = 100_000;

const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/** PBKDF2-HMAC-SHA256 of the NFC-normalised password with `salt` (16 bytes), 32-byte key. */
export async function stagingPasswordHash(password: string, salt: Uint8Array<ArrayBuffer>): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(password.normalize("NFC")),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations: STAGING_PASSWORD_ITERATIONS },
    key,
    256,
  );
  return `pbkdf2_sha256$${STAGING_PASSWORD_ITERATIONS}$${toBase64(salt)}$${toBase64(new Uint8Array(bits))}`;
}
