import { base64url } from "jose";

/**
 * AES-256-GCM for secrets the database keeps (TOTP seeds) and state we hand to a browser (OIDC
 * login): neither a database dump nor the browser can read them. Format `v1.<iv>.<ciphertext>`
 * (base64url).
 */
export interface SecretBox {
  seal(plaintext: string): Promise<string>;
  open(sealed: string): Promise<string>;
}

/**
 * A box for one `purpose`: each purpose gets its own key, derived from the configured one with
 * HKDF, so a value sealed for one use can never be opened as another.
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
