import { parse as parseMediaType } from "content-type";
import { toHex } from "../pkg/crypto/digest.ts";
import { ApiError } from "../pkg/errors/api-error.ts";
import { type ByteSource, ContentTooLargeError, type ObjectStorage, partsOf } from "../pkg/storage/storage.ts";
import { type AllowedType, checkContentType, kindOf, SNIFF_BYTES } from "./content-types.ts";
import { decodeUtf8Slices, isUtf8Compatible } from "./text-checks.ts";
import { documentUploadWeight, withUploadRoom } from "./upload-gate.ts";

export interface StoredFile {
  size: number;
  sha256: string;
  contentType: AllowedType;
}

/**
 * Stores an uploaded file: the declared type must be allowed and agree with the first bytes (415
 * otherwise), the size must stay within `maxBytes` (413 as soon as it is exceeded, and nothing is
 * kept), and the SHA-256 is computed on the way, one part at a time. The file streams from the
 * request to storage, read straight into two part buffers (`partsOf`: one is sent while the next
 * is read), so memory holds two parts (2 × `PART_BYTES`) whatever its size. It does so in the
 * isolate's upload gate (`documentUploadWeight` of `uploadGate`): when the gate stays full, 503
 * with Retry-After before anything is read. `body`'s errors are thrown as it throws them; it is
 * cancelled on any failure.
 */
export async function storeFile(
  storage: ObjectStorage,
  input: {
    key: string;
    body: ByteSource;
    declaredType: string | undefined;
    /** Used to infer a text type when none is declared. */
    filename?: string | undefined;
    maxBytes: number;
    /** The error for a file past `maxBytes`, given how many bytes it has at least; a 413 by default. */
    tooLarge?: ((requested: number) => ApiError) | undefined;
    /** UTF-8 text whose type cannot be inferred is text/plain (a form part without Content-Type). */
    textByDefault?: boolean;
    /** At most this many bytes will come (the request's Content-Length), if known: the weight in the upload gate. */
    lengthAtMost?: number | undefined;
  },
): Promise<StoredFile> {
  const source = input.body;
  try {
    return await withUploadRoom(documentUploadWeight(input.lengthAtMost), () => streamFile(storage, input));
  } catch (error) {
    await source.cancel();
    if (error instanceof ContentTooLargeError) {
      throw (
        input.tooLarge?.(input.maxBytes + 1) ??
        new ApiError("payload_too_large", { detail: `The limit is ${input.maxBytes} bytes.` })
      );
    }
    throw error;
  }
}

/** `storeFile`'s work, within the gate; its failures are `storeFile`'s to clean up. */
async function streamFile(storage: ObjectStorage, input: Parameters<typeof storeFile>[1]): Promise<StoredFile> {
  const source = input.body;
  const head = await source.readInto(new Uint8Array(SNIFF_BYTES), SNIFF_BYTES);
  if (head.length === 0) {
    throw new ApiError("validation_failed", {
      detail: "body: the file is empty",
      errors: [{ in: "body", pointer: "/file", message: "the file is empty" }],
    });
  }
  const check = await checkContentType(input.declaredType, head, input.filename, {
    textByDefault: input.textByDefault ?? false,
  });
  if (!check.ok) throw new ApiError("unsupported_media_type", { detail: check.reason });

  const digest = new crypto.DigestStream("SHA-256");
  const hash = digest.getWriter();
  // Text is served as UTF-8 (charset=utf-8), so all of it must be, not only the sniffed head.
  const utf8 = kindOf(check.type) === "text" ? new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }) : undefined;
  const notText = () =>
    new ApiError("unsupported_media_type", { detail: `declared ${check.type}, but the content is not UTF-8 text` });
  // Under another declared charset only ASCII means the same in UTF-8; other bytes would be misread.
  const charset = parseMediaType(input.declaredType ?? "").parameters.charset?.toLowerCase();
  const asciiOnly = utf8 !== undefined && !isUtf8Compatible(charset);
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const part of partsOf(source, { head, maxBytes: input.maxBytes })) {
      if (utf8) {
        if (part.includes(0)) throw notText();
        if (asciiOnly && part.some((byte) => byte > 0x7f)) {
          throw new ApiError("unsupported_media_type", {
            detail: `declared charset ${charset}: text is stored and served as UTF-8; send it as UTF-8`,
          });
        }
        try {
          decodeUtf8Slices(utf8, part);
        } catch {
          throw notText();
        }
      }
      // Awaited before the part's buffer is refilled (two parts later).
      await hash.write(part);
      yield part;
    }
    try {
      utf8?.decode();
    } catch {
      throw notText();
    }
    await hash.close();
  }
  const { size } = await storage.upload(input.key, hashed(), { contentType: check.type });
  return { size, sha256: toHex(await digest.digest), contentType: check.type };
}
