// Text is stored and served as UTF-8 (charset=utf-8): the rules both upload paths (POST /documents,
// src/documents/upload.ts, and resumable uploads, src/documents/resumable-text.ts) check it by.

/**
 * Text is checked as UTF-8 in slices of this many bytes: each decode makes a string of its slice,
 * and small strings die young (a part-sized one would be garbage only a full collection frees).
 */
export const UTF8_SLICE_BYTES = 64 * 1024;

/** Charset labels whose text is UTF-8 as it stands (US-ASCII is a subset; WHATWG Encoding labels of UTF-8). */
const UTF8_COMPATIBLE = new Set(["utf-8", "utf8", "unicode-1-1-utf-8", "us-ascii", "ascii"]);

/** Whether text declared with `charset` (lower-case; undefined: none declared) is UTF-8 as it stands. */
export function isUtf8Compatible(charset: string | undefined): boolean {
  return charset === undefined || UTF8_COMPATIBLE.has(charset);
}

/**
 * Feeds `bytes` to `decoder` (a fatal UTF-8 `TextDecoder`) in `UTF8_SLICE_BYTES` slices, streaming:
 * a character cut at the end waits for the next call, or for `decoder.decode()` at the end. Throws
 * the decoder's `TypeError` at the first byte that is not UTF-8 (RFC 3629).
 */
export function decodeUtf8Slices(decoder: TextDecoder, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; at += UTF8_SLICE_BYTES) {
    decoder.decode(bytes.subarray(at, at + UTF8_SLICE_BYTES), { stream: true });
  }
}
