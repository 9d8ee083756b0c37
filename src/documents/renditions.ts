import { type RenditionFormat, renditionKey } from "../db/queries/documents.ts";
import type { DocumentVersion } from "../db/schema/documents.ts";
import { ApiError } from "../pkg/errors/api-error.ts";
import type { Logger } from "../pkg/logger/logger.ts";
import type { ObjectStorage } from "../pkg/storage/storage.ts";
import {
  convertImage,
  DecodersBusyError,
  ImageDecodeError,
  ImageTooLargeError,
  MAX_IMAGE_BYTES,
  MAX_MARKDOWN_BYTES,
  markdownToHtml,
  withDecodeSlot,
} from "./convert.ts";

/** The conversions a version's content is offered in (`GET /documents/{id}/content?format=`). */
export type ConversionFormat = "html" | RenditionFormat;

/** The buckets a conversion reads from and caches into, and the logger for what the client is not told. */
export interface RenditionDeps {
  /** The documents bucket: the version's original. */
  storage: ObjectStorage;
  /** The thumbnails bucket, which also keeps the image renditions. */
  thumbnails: ObjectStorage;
  logger: Logger;
}

/** 503: the version's object is not in storage although its row says it is. */
const contentMissing = () => new ApiError("service_unavailable", { detail: "The stored content is missing." });

/** The whole object at `key` as bytes; 503 when it is missing. Only for sizes bounded by the caller. */
async function wholeObject(storage: ObjectStorage, key: string): Promise<Uint8Array> {
  const object = await storage.get(key);
  if (!object) throw contentMissing();
  return new Uint8Array(await new Response(object.body).arrayBuffer());
}

/**
 * Whether `format` is offered for a stored `contentType` (HTML from Markdown, WebP or PNG from an
 * image), and up to what size: `maxBytes` of the original, since a conversion holds it whole
 * (MAX_MARKDOWN_BYTES, MAX_IMAGE_BYTES). Undefined when the format is not offered for that type.
 */
export function conversionOf(contentType: string, format: ConversionFormat): { maxBytes: number } | undefined {
  if (format === "html") return contentType === "text/markdown" ? { maxBytes: MAX_MARKDOWN_BYTES } : undefined;
  return contentType.startsWith("image/") ? { maxBytes: MAX_IMAGE_BYTES } : undefined;
}

/**
 * The HTML page of a Markdown version, rendered with `title` on every request
 * (src/documents/convert.ts), as UTF-8 bytes so that its length is known and sent (a string body
 * would go out without Content-Length). Throws 503 when the object is missing from storage. The
 * caller keeps the source within MAX_MARKDOWN_BYTES (`conversionOf`).
 */
export async function markdownPage(
  storage: ObjectStorage,
  version: DocumentVersion,
  title: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = await wholeObject(storage, version.storageKey);
  const html = await markdownToHtml(new TextDecoder().decode(bytes), title);
  return new Uint8Array(new TextEncoder().encode(html));
}

/**
 * An image version's rendition in `format`, from the thumbnails bucket; made and stored there on
 * the first request, in one of the isolate's conversion slots, so an image is decoded once per
 * format rather than on every request (OWASP API4:2023). Resolves to the body (a stream of
 * `size` bytes when stored, the bytes when just made) and its size in bytes. Throws 503 when every
 * slot stays busy (with `Retry-After: 1`) or the original is missing; 422 when the image is too
 * large to decode or not an image. The caller keeps the original within MAX_IMAGE_BYTES.
 */
export async function rendition(
  deps: RenditionDeps,
  documentId: string,
  version: DocumentVersion,
  format: RenditionFormat,
): Promise<{ body: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer>; size: number }> {
  const { storage, thumbnails } = deps;
  const key = renditionKey(documentId, version.sha256, format);
  const stored = await thumbnails.get(key);
  if (stored) return stored;
  let made: Uint8Array<ArrayBuffer>;
  try {
    made = await withDecodeSlot(async () => {
      // Another request may have made it while this one waited for the slot.
      const meanwhile = await thumbnails.get(key);
      if (meanwhile) return new Uint8Array(await new Response(meanwhile.body).arrayBuffer());
      const image = await convertImage(await wholeObject(storage, version.storageKey), format);
      await thumbnails.put(key, image, { contentLength: image.byteLength, contentType: `image/${format}` });
      return image;
    });
  } catch (error) {
    if (error instanceof DecodersBusyError) {
      throw new ApiError("service_unavailable", {
        detail: "Image conversion is busy; try again shortly.",
        headers: { "Retry-After": "1" },
      });
    }
    if (error instanceof ImageTooLargeError)
      throw new ApiError("unprocessable_content", { detail: `${error.message}.` });
    if (error instanceof ImageDecodeError) {
      // The decoder's own words are for operators (OWASP API8:2023); the client gets ours.
      deps.logger.warn("image not decodable", { documentId, error: error.message });
      throw new ApiError("unprocessable_content", {
        detail: "The image could not be decoded: it is damaged or not what it claims to be.",
      });
    }
    throw error;
  }
  return { body: made, size: made.byteLength };
}
