import { constantTimeEqual } from "../pkg/crypto/constant-time.ts";

/** Workers refuse PBKDF2 above this many iterations (the local runtime does not enforce it). */
export const MAX_PBKDF2_ITERATIONS = 100_000;

const ALGORITHM = "pbkdf2_sha256";
const SALT_BYTES = 16;
const KEY_BYTES = 32;

export interface PasswordCheck {
  valid: boolean;
  /** Stored with weaker parameters than today's: re-hash it now that the password is known. */
  needsRehash: boolean;
}

export interface PasswordHasher {
  readonly iterations: number;
  /** `pbkdf2_sha256$<iterations>$<salt>$<hash>` (base64): parameters travel with the hash. */
  hash(password: string): Promise<string>;
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

/** PBKDF2-SHA256 through WebCrypto with a random salt per password. */
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
