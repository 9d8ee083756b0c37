import { base64url } from "jose";

/**
 * The data encryption keys (each 32 bytes, standard base64): `current` seals, `current` and every
 * `previous` one open. `previous` is what lets DATA_ENCRYPTION_KEY be rotated without making stored
 * secrets unreadable: DATA_ENCRYPTION_KEY_PREVIOUS until `npm run secrets:reseal` has re-sealed them.
 */
export interface EncryptionKeys {
  current: string;
  previous: readonly string[];
}

/** A key, or keys with the previous ones: a lone key is `{ current: key, previous: [] }`. */
export type EncryptionKeyInput = EncryptionKeys | string;

export const encryptionKeys = (keys: EncryptionKeyInput): EncryptionKeys =>
  typeof keys === "string" ? { current: keys, previous: [] } : keys;

/**
 * AES-256-GCM for secrets the database keeps (TOTP seeds, webhook secrets) and state we hand to a
 * browser (OIDC login): neither a database dump nor the browser can read them. Format
 * `v1.<iv>.<ciphertext>.<key id>` (base64url without padding, RFC 4648 §5; a random 12-byte IV, the
 * ciphertext ending in GCM's 16-byte tag: NIST SP 800-38D; the key id names the key that sealed it,
 * see `keyId`). Values sealed before key ids existed have no fourth part and are tried with every
 * key. The key id trails, rather than leads, so that a release without key ids (still serving part
 * of the traffic during a gradual deployment) opens what this one seals: it reads three parts.
 */
export interface SecretBox {
  /** Seals UTF-8 text with the current key; a new random IV each time, so sealing the same text twice differs. */
  seal(plaintext: string): Promise<string>;
  /**
   * The text `seal` sealed, with this box's purpose and any of its keys. Throws `Error` for a value
   * not in the `v1` format or naming a key id the box does not hold, and WebCrypto's
   * `OperationError` when it was tampered with or sealed under another key or purpose.
   */
  open(sealed: string): Promise<string>;
  /** Whether `sealed` names the current key (so re-sealing it would change nothing). */
  isCurrent(sealed: string): boolean;
  /** The current key's id. */
  readonly currentKeyId: string;
}

const decodeKey = (keyBase64: string): Uint8Array<ArrayBuffer> => {
  const raw = Uint8Array.from(atob(keyBase64), (c) => c.charCodeAt(0));
  if (raw.byteLength !== 32) throw new Error("the encryption key must be 32 bytes");
  return raw;
};

const hkdf = (info: string) => ({
  name: "HKDF",
  hash: "SHA-256",
  salt: new Uint8Array(32),
  info: new TextEncoder().encode(info),
});

/**
 * A key's public name: 6 bytes of HKDF-SHA256 (RFC 5869; info `techcorp:key-id`) of it, as 8
 * base64url characters. One-way, so it tells nothing about the key; 48 bits, so two keys of one
 * deployment never share one.
 */
export async function keyId(keyBase64: string): Promise<string> {
  const master = await crypto.subtle.importKey("raw", decodeKey(keyBase64), "HKDF", false, ["deriveBits"]);
  return base64url.encode(new Uint8Array(await crypto.subtle.deriveBits(hkdf("techcorp:key-id"), master, 48)));
}

async function purposeKey(keyBase64: string, purpose: string): Promise<CryptoKey> {
  const master = await crypto.subtle.importKey("raw", decodeKey(keyBase64), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(hkdf(`techcorp:${purpose}`), master, { name: "AES-GCM", length: 256 }, false, [
    "encrypt",
    "decrypt",
  ]);
}

/** The key id a sealed value names; undefined for one sealed before key ids. */
export const sealedKeyId = (sealed: string): string | undefined => sealed.split(".")[3];

/**
 * A box for one `purpose`: each purpose gets its own key, derived from each configured one with
 * HKDF-SHA256 (RFC 5869; info `techcorp:<purpose>`), so a value sealed for one use can never be
 * opened as another. `keys` is DATA_ENCRYPTION_KEY (and DATA_ENCRYPTION_KEY_PREVIOUS): 32 bytes
 * each, standard base64; throws `Error` for another length.
 */
export async function createSecretBox(keys: EncryptionKeyInput, purpose = "mfa-secret"): Promise<SecretBox> {
  const { current, previous } = encryptionKeys(keys);
  const ring = await Promise.all(
    [current, ...previous.filter((key) => key !== current)].map(async (key) => ({
      id: await keyId(key),
      key: await purposeKey(key, purpose),
    })),
  );
  const [sealing] = ring;
  if (!sealing) throw new Error("no encryption key");
  const decrypt = async (key: CryptoKey, iv: string, data: string) =>
    new TextDecoder().decode(
      await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: new Uint8Array(base64url.decode(iv)) },
        key,
        new Uint8Array(base64url.decode(data)),
      ),
    );
  return {
    currentKeyId: sealing.id,
    isCurrent: (sealed) => sealedKeyId(sealed) === sealing.id,
    async seal(plaintext) {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const data = new TextEncoder().encode(plaintext);
      const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, sealing.key, data));
      return `v1.${base64url.encode(iv)}.${base64url.encode(sealed)}.${sealing.id}`;
    },
    async open(sealed) {
      const [version, iv, data, id, ...rest] = sealed.split(".");
      if (version !== "v1" || !iv || !data || rest.length > 0) throw new Error("unrecognised sealed secret");
      if (id !== undefined) {
        const entry = ring.find((candidate) => candidate.id === id);
        if (!entry) throw new Error(`sealed under key ${id}, which is not configured`);
        return decrypt(entry.key, iv, data);
      }
      // Sealed before key ids: the key whose GCM tag checks out is the one.
      let failure: unknown;
      for (const { key } of ring) {
        try {
          return await decrypt(key, iv, data);
        } catch (error) {
          failure = error;
        }
      }
      throw failure;
    },
  };
}
