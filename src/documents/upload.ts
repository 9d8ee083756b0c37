import { ApiError } from "../pkg/errors/api-error.ts";
import { hashingStream } from "../pkg/storage/hashing.ts";
import type { ObjectStorage } from "../pkg/storage/storage.ts";
import { type AllowedType, checkContentType, SNIFF_BYTES } from "./content-types.ts";

export interface StoredFile {
  size: number;
  sha256: string;
  contentType: AllowedType;
}

class TooLargeError extends Error {
  constructor() {
    super("too large");
    this.name = "TooLargeError";
  }
}

/** Reads until at least `bytes` are in hand (or the stream ends); returns them and the rest. */
async function peek(body: ReadableStream<Uint8Array>, bytes: number) {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  let done = false;
  while (length < bytes) {
    const next = await reader.read();
    if (next.done) {
      done = true;
      break;
    }
    chunks.push(next.value);
    length += next.value.length;
  }
  const head = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    head.set(chunk, offset);
    offset += chunk.length;
  }
  // The whole body again: what was peeked, then the rest straight from the reader.
  const whole = new ReadableStream<Uint8Array>({
    start(controller) {
      if (head.length > 0) controller.enqueue(head);
      if (done) controller.close();
    },
    async pull(controller) {
      const next = await reader.read();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { head: head.subarray(0, Math.min(bytes, head.length)), whole };
}

/** Passes bytes on, failing the stream once more than `max` have gone through. */
function limit(max: number): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.length;
      if (seen > max) throw new TooLargeError();
      controller.enqueue(chunk);
    },
  });
}

/**
 * Stores an uploaded file: the declared type must be allowed and agree with the first bytes (415
 * otherwise), the size must stay within `maxBytes` (413 as soon as it is exceeded, and nothing is
 * kept), and the SHA-256 is computed on the way. The file streams from the request to storage.
 */
export async function storeFile(
  storage: ObjectStorage,
  input: { key: string; body: ReadableStream<Uint8Array>; declaredType: string | undefined; maxBytes: number },
): Promise<StoredFile> {
  const { head, whole } = await peek(input.body, SNIFF_BYTES);
  if (head.length === 0) {
    await whole.cancel();
    throw new ApiError("validation_failed", {
      detail: "body: the file is empty",
      errors: [{ in: "body", pointer: "/file", message: "the file is empty" }],
    });
  }
  const check = await checkContentType(input.declaredType, head);
  if (!check.ok) {
    await whole.cancel();
    throw new ApiError("unsupported_media_type", { detail: check.reason });
  }
  const hash = hashingStream();
  try {
    const { size } = await storage.upload(
      input.key,
      whole.pipeThrough(limit(input.maxBytes)).pipeThrough(hash.stream),
      {
        contentType: check.type,
      },
    );
    const { sha256 } = await hash.result;
    return { size, sha256, contentType: check.type };
  } catch (error) {
    if (error instanceof TooLargeError) {
      throw new ApiError("payload_too_large", { detail: `The limit is ${input.maxBytes} bytes.` });
    }
    throw error;
  }
}
