import { base64url } from "jose";

/**
 * AES-256-GCM for secrets the database keeps (TOTP seeds) and state we hand to a browser (OIDC
 * login): neither a database dump nor the browser can read them. Format `v1.<iv>.<ciphertext>`
 * (base64url without padding, RFC 4648 §5; a random 12-byte IV, the ciphertext ending in GCM's
 * 16-byte tag: NIST SP 800-38D).
 */
export interface SecretBox {
  /** Seals UTF-8 text; a new random IV each time, so sealing the same text twice differs. */
  seal(plaintext: string): Promise<string>;
  /**
   * The text `seal` sealed, with this box's purpose and key. Throws `Error` for a value not in the
   * `v1` format, and WebCrypto's `OperationError` when it was tampered with or sealed under another
   * key or purpose.
   */
  open(sealed: string): Promise<string>;
}

/**
 * A box for one `purpose`: each purpose gets its own key, derived from the configured one with
 * HKDF-SHA256 (RFC 5869; info `techcorp:<purpose>`), so a value sealed for one use can never be
 * opened as another. `keyBase64` is `DATA_ENCRYPTION_KEY`: 32 bytes, standard base64; throws
 * `Error` for another length.
 */
export async function createSecretBox(keyBase64: string, purpose = "mfa-secret"): Promise<SecretBox> {
  const raw = Uint8Array.from(atob(keyBase64), (c) => c.charCodeAt(0));
  if (raw.byteLength !== 32) throw new Error("the encryption key must be 32 bytes");
  const master = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32), info: new TextEncoder().encode(`techcorp:${purpose}`) },
    master,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
  return {
    async seal(plaintext) {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const data = new TextEncoder().encode(plaintext);
      const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, data));
      return `v1.${base64url.encode(iv)}.${base64url.encode(sealed)}`;
    },
    async open(sealed) {
      const [version, iv, data] = sealed.split(".");
      if (version !== "v1" || !iv || !data) throw new Error("unrecognised sealed secret");
      const plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: base64url.decode(iv) },
        key,
        base64url.decode(data),
      );
      return new TextDecoder().decode(plain);
    },
  };
}
