import { parse as parseMediaType } from "content-type";
import { toHex } from "../pkg/crypto/digest.ts";
import { ApiError } from "../pkg/errors/api-error.ts";
import { ContentTooLargeError, type ObjectStorage, partsOf } from "../pkg/storage/storage.ts";
import { type AllowedType, checkContentType, kindOf, SNIFF_BYTES } from "./content-types.ts";

export interface StoredFile {
  size: number;
  sha256: string;
  contentType: AllowedType;
}

/** Reads until at least `bytes` are in hand (or the stream ends). */
async function readHead(reader: ReadableStreamDefaultReader<Uint8Array>, bytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  while (length < bytes) {
    const next = await reader.read();
    if (next.done) break;
    chunks.push(next.value);
    length += next.value.length;
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const head = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    head.set(chunk, offset);
    offset += chunk.length;
  }
  return head;
}

/** Charset labels whose text is UTF-8 as it stands (US-ASCII is a subset). */
const UTF8_COMPATIBLE = new Set(["utf-8", "utf8", "unicode-1-1-utf-8", "us-ascii", "ascii"]);

/**
 * Stores an uploaded file: the declared type must be allowed and agree with the first bytes (415
 * otherwise), the size must stay within `maxBytes` (413 as soon as it is exceeded, and nothing is
 * kept), and the SHA-256 is computed on the way, one part at a time. The file streams from the
 * request to storage; memory holds one part (8 MiB) whatever its size.
 */
export async function storeFile(
  storage: ObjectStorage,
  input: {
    key: string;
    body: ReadableStream<Uint8Array>;
    declaredType: string | undefined;
    /** Used to infer a text type when none is declared. */
    filename?: string | undefined;
    maxBytes: number;
    /** The error for a file past `maxBytes`, given how many bytes it has at least; a 413 by default. */
    tooLarge?: ((requested: number) => ApiError) | undefined;
    /** UTF-8 text whose type cannot be inferred is text/plain (a form part without Content-Type). */
    textByDefault?: boolean;
  },
): Promise<StoredFile> {
  const reader = input.body.getReader();
  try {
    const head = await readHead(reader, SNIFF_BYTES);
    if (head.length === 0) {
      throw new ApiError("validation_failed", {
        detail: "body: the file is empty",
        errors: [{ in: "body", pointer: "/file", message: "the file is empty" }],
      });
    }
    const check = await checkContentType(input.declaredType, head.subarray(0, SNIFF_BYTES), input.filename, {
      textByDefault: input.textByDefault ?? false,
    });
    if (!check.ok) throw new ApiError("unsupported_media_type", { detail: check.reason });

    const digest = new crypto.DigestStream("SHA-256");
    const hash = digest.getWriter();
    // Text is served as UTF-8 (charset=utf-8), so all of it must be, not only the sniffed head.
    const utf8 =
      kindOf(check.type) === "text" ? new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }) : undefined;
    const notText = () =>
      new ApiError("unsupported_media_type", { detail: `declared ${check.type}, but the content is not UTF-8 text` });
    // Under another declared charset only ASCII means the same in UTF-8; other bytes would be misread.
    const charset = parseMediaType(input.declaredType ?? "").parameters.charset?.toLowerCase();
    const asciiOnly = utf8 !== undefined && charset !== undefined && !UTF8_COMPATIBLE.has(charset);
    async function* hashed(): AsyncGenerator<Uint8Array> {
      for await (const part of partsOf(reader, { head, maxBytes: input.maxBytes })) {
        if (utf8) {
          if (part.includes(0)) throw notText();
          if (asciiOnly && part.some((byte) => byte > 0x7f)) {
            throw new ApiError("unsupported_media_type", {
              detail: `declared charset ${charset}: text is stored and served as UTF-8; send it as UTF-8`,
            });
          }
          try {
            utf8.decode(part, { stream: true });
          } catch {
            throw notText();
          }
        }
        // Awaited before the part's buffer is refilled.
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
  } catch (error) {
    await reader.cancel().catch(() => {});
    if (error instanceof ContentTooLargeError) {
      throw (
        input.tooLarge?.(input.maxBytes + 1) ??
        new ApiError("payload_too_large", { detail: `The limit is ${input.maxBytes} bytes.` })
      );
    }
    throw error;
  }
}
