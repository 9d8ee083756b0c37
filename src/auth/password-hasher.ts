import { constantTimeEqual } from "../pkg/crypto/constant-time.ts";

/**
 * Production Workers refuse PBKDF2 above this many iterations (`deriveBits` rejects with
 * `NotSupportedError`; the production limit of cloudflare/workerd#1346). The open-source workerd
 * behind `wrangler dev` and the tests does not enforce it, so `createPasswordHasher` and stored
 * hashes are held to it here.
 */
export const MAX_PBKDF2_ITERATIONS = 100_000;

const ALGORITHM = "pbkdf2_sha256";
const SALT_BYTES = 16;
const KEY_BYTES = 32;

/** The outcome of a verification. */
export interface PasswordCheck {
  /** The password matches the stored hash. */
  valid: boolean;
  /** Stored with weaker parameters than today's: re-hash it now that the password is known. */
  needsRehash: boolean;
}

/**
 * PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) password hashing. Passwords are NFC-normalised, then UTF-8
 * encoded, before hashing, so the same password typed on two keyboards verifies.
 */
export interface PasswordHasher {
  /** Today's iteration count (`PBKDF2_ITERATIONS`): new hashes use it; older ones are re-hashed to it. */
  readonly iterations: number;
  /**
   * `pbkdf2_sha256$<iterations>$<salt>$<hash>`: iterations in decimal, a random 16-byte salt and
   * the 32-byte derived key, each in standard base64 with padding (RFC 4648 §4): the parameters
   * travel with the hash.
   */
  hash(password: string): Promise<string>;
  /**
   * Checks `password` against a stored `hash()` value. A value it cannot read (another format,
   * `UNUSABLE_PASSWORD_HASH`, iterations over `MAX_PBKDF2_ITERATIONS`) is `valid: false` after
   * the same work, never an error; the keys are compared in constant time.
   */
  verify(password: string, stored: string): Promise<PasswordCheck>;
  /**
   * Spends the same work as a real verification, for an account that does not exist, so that an
   * unknown user and a wrong password take alike long.
   */
  verifyNothing(password: string): Promise<PasswordCheck>;
}

const encoder = new TextEncoder();
const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const fromBase64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(password.normalize("NFC")), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    key,
    KEY_BYTES * 8,
  );
  return new Uint8Array(bits);
}

function parse(stored: string): { iterations: number; salt: Uint8Array; hash: Uint8Array } | undefined {
  const [algorithm, iterations, salt, hash] = stored.split("$");
  if (algorithm !== ALGORITHM || !iterations || !salt || !hash) return undefined;
  const count = Number(iterations);
  if (!Number.isInteger(count) || count < 1 || count > MAX_PBKDF2_ITERATIONS) return undefined;
  try {
    return { iterations: count, salt: fromBase64(salt), hash: fromBase64(hash) };
  } catch {
    return undefined;
  }
}

// Kept here too for the modules that have always imported it from the hasher.
export { constantTimeEqual };

/**
 * PBKDF2-SHA256 through WebCrypto with a random salt per password. Throws a `RangeError` when
 * `iterations` is not an integer in 1..`MAX_PBKDF2_ITERATIONS` (the configuration allows
 * 10,000..100,000).
 */
export function createPasswordHasher(options: { iterations: number }): PasswordHasher {
  const { iterations } = options;
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_PBKDF2_ITERATIONS) {
    throw new RangeError(`PBKDF2 iterations must be 1..${MAX_PBKDF2_ITERATIONS}; Workers refuse more`);
  }
  const dummySalt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));

  return {
    iterations,
    async hash(password) {
      const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
      const hash = await derive(password, salt, iterations);
      return `${ALGORITHM}$${iterations}$${toBase64(salt)}$${toBase64(hash)}`;
    },
    async verify(password, stored) {
      const parsed = parse(stored);
      if (!parsed) {
        // An unusable hash (e.g. an account created by third-party login) still costs the same.
        await derive(password, dummySalt, iterations);
        return { valid: false, needsRehash: false };
      }
      const candidate = await derive(password, parsed.salt, parsed.iterations);
      const valid = constantTimeEqual(candidate, parsed.hash);
      return { valid, needsRehash: valid && parsed.iterations < iterations };
    },
    async verifyNothing(password) {
      await derive(password, dummySalt, iterations);
      return { valid: false, needsRehash: false };
    },
  };
}

/** Stored for accounts that have no password (third-party login only): never verifies. */
export const UNUSABLE_PASSWORD_HASH = "!";
