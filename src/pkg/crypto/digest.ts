/**
 * `bytes` as lowercase hexadecimal, two digits per byte (RFC 4648 §8, base16, in the lowercase
 * that S3's checksums, our ETags and stored hashes use). A 32-byte digest gives 64 characters.
 */
export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return Array.from(view, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The SHA-256 digest (FIPS 180-4) of `text`'s UTF-8 bytes: 32 bytes. Web Crypto; never throws for a string. */
export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** `sha256(text)` as 64 lowercase hex characters (see `toHex`). */
export async function sha256Hex(text: string): Promise<string> {
  return toHex(await sha256(text));
}
