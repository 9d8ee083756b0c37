const encoder = new TextEncoder();

/**
 * Whether two byte strings are equal, in time that depends only on their lengths, never on where
 * they differ (ASVS v4.0.3 V2.9 and V6.2: secrets, MACs, codes and token hashes are compared
 * without a timing side channel; `===` returns at the first differing character). Lengths are not
 * secret: every value compared here has a fixed or public length.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return crypto.subtle.timingSafeEqual(a, b);
}

/** `constantTimeEqual` of the UTF-8 encodings of two strings. */
export function constantTimeEqualText(a: string, b: string): boolean {
  return constantTimeEqual(encoder.encode(a), encoder.encode(b));
}
