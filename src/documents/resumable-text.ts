// Text checks of a resumable upload's parts. Text is stored and served as UTF-8, so every byte of
// it must be UTF-8 without NUL (as for POST /documents, src/documents/upload.ts). Parts arrive in
// any order and in separate requests, so each is checked on its own, with a character allowed to
// be cut at its edges; the cut bytes are kept with the part and the joins checked on completion.

import { decodeUtf8Slices } from "./text-checks.ts";

/** A text part's edges: the bytes of a character cut at its start and at its end (0 to 3 each). */
export interface TextEdges {
  leading: Uint8Array;
  trailing: Uint8Array;
}

const isContinuation = (byte: number) => (byte & 0xc0) === 0x80;

/** Bytes of the sequence a lead byte starts (RFC 3629 §4), or 0 for a byte that starts none. */
function sequenceLength(byte: number): number {
  if (byte < 0x80) return 1;
  if (byte >= 0xc2 && byte <= 0xdf) return 2;
  if (byte >= 0xe0 && byte <= 0xef) return 3;
  if (byte >= 0xf0 && byte <= 0xf4) return 4;
  return 0;
}

/** Whether `bytes` are whole, valid UTF-8 (RFC 3629), checked by the runtime's decoder a slice at a time. */
function isUtf8(bytes: Uint8Array): boolean {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  try {
    decodeUtf8Slices(decoder, bytes);
    decoder.decode();
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks one part of a text file: no NUL, and valid UTF-8 (RFC 3629) except for a character cut
 * at either edge. Returns the cut bytes, or undefined when the part is not UTF-8 text. The first
 * part of a file may not start inside a character, nor the last end inside one.
 */
export function textPartEdges(part: Uint8Array, position: { first: boolean; last: boolean }): TextEdges | undefined {
  if (part.includes(0)) return undefined;
  let start = 0;
  while (start < part.length && start < 3 && isContinuation(part[start] ?? 0)) start += 1;
  if (start > 0 && position.first) return undefined;
  let end = part.length;
  // A lead byte within the last three whose sequence runs past the end is a cut character.
  for (let i = part.length - 1; i >= Math.max(start, part.length - 3); i -= 1) {
    const byte = part[i] ?? 0;
    if (isContinuation(byte)) continue;
    if (sequenceLength(byte) > part.length - i) end = i;
    break;
  }
  if (end < part.length && position.last) return undefined;
  if (!isUtf8(part.subarray(start, end))) return undefined;
  return { leading: part.slice(0, start), trailing: part.slice(end) };
}

/**
 * Whether the cut characters at the joins of consecutive parts (`edges` in part order) make whole
 * UTF-8 characters: each part's trailing bytes followed by the next part's leading bytes. Returns
 * the number of the first part whose join with the next is broken, or undefined.
 */
export function brokenJoin(edges: readonly TextEdges[]): number | undefined {
  for (let i = 0; i + 1 < edges.length; i += 1) {
    const before = edges[i];
    const after = edges[i + 1];
    if (!before || !after) continue;
    const join = new Uint8Array(before.trailing.length + after.leading.length);
    join.set(before.trailing);
    join.set(after.leading, before.trailing.length);
    if (join.length === 0) continue;
    try {
      const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(join);
      // A join is one character (a cut one made whole), never bytes that stood alone.
      if ([...text].length !== 1 || before.trailing.length === 0 || after.leading.length === 0) return i + 1;
    } catch {
      return i + 1;
    }
  }
  return undefined;
}

/** Bytes as lower-case hex (how edges are stored), and back. */
export function edgeToHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export function edgeFromHex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}
