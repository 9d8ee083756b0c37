import { PhotonImage, resize, SamplingFilter } from "@cf-wasm/photon";
import { imageSize } from "image-size";
import { Marked } from "marked";

/** Images larger than this are not decoded in a Worker (memory): converting them is refused. */
export const MAX_IMAGE_BYTES = 24 * 1024 * 1024;
/**
 * Decoding needs width × height × 4 bytes at least (plus the encoder's copy): 12 megapixels is
 * about 48 MB, which leaves room in a 128 MB isolate. Larger images get no thumbnail or conversion.
 */
export const MAX_IMAGE_PIXELS = 12_000_000;

export class ImageTooLargeError extends Error {
  constructor(width: number, height: number) {
    super(
      `${width}×${height} pixels is more than the ${MAX_IMAGE_PIXELS / 1_000_000} megapixels images are decoded up to`,
    );
    this.name = "ImageTooLargeError";
  }
}

/** Thrown for bytes that are not a readable image. */
export class ImageDecodeError extends Error {
  constructor(cause: unknown) {
    super(`the image could not be decoded: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "ImageDecodeError";
  }
}

/** Reads the dimensions from the header (no decoding) and refuses images too large to decode. */
function decodable(bytes: Uint8Array): PhotonImage {
  let size: { width?: number | undefined; height?: number | undefined };
  try {
    size = imageSize(bytes);
  } catch (error) {
    throw new ImageDecodeError(error);
  }
  const width = size.width ?? 0;
  const height = size.height ?? 0;
  if (width * height > MAX_IMAGE_PIXELS) throw new ImageTooLargeError(width, height);
  try {
    return PhotonImage.new_from_byteslice(bytes);
  } catch (error) {
    throw new ImageDecodeError(error);
  }
}

const escapeHtml = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

// Raw HTML inside Markdown is shown as text, never passed through: the result is safe to render.
const markdown = new Marked({ gfm: true, renderer: { html: ({ text }) => escapeHtml(text) } });

/** Markdown to a standalone HTML page. */
export async function markdownToHtml(source: string, title: string): Promise<string> {
  const body = await markdown.parse(source);
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>\n${body}</body></html>\n`;
}

export type ImageFormat = "webp" | "png";

/** Re-encodes an image (PNG, JPEG, GIF first frame, WebP) as WebP or PNG. */
export function convertImage(bytes: Uint8Array, format: ImageFormat): Uint8Array<ArrayBuffer> {
  const image = decodable(bytes);
  try {
    // wasm-bindgen copies results out of wasm memory into a fresh ArrayBuffer.
    return (format === "webp" ? image.get_bytes_webp() : image.get_bytes()) as Uint8Array<ArrayBuffer>;
  } finally {
    image.free();
  }
}

/** A WebP thumbnail that fits in `max`×`max`, keeping the aspect ratio (never enlarged). */
export function thumbnail(
  bytes: Uint8Array,
  max = 256,
): { bytes: Uint8Array<ArrayBuffer>; width: number; height: number } {
  const image = decodable(bytes);
  try {
    const width = image.get_width();
    const height = image.get_height();
    const scale = Math.min(1, max / Math.max(width, height));
    const w = Math.max(1, Math.round(width * scale));
    const h = Math.max(1, Math.round(height * scale));
    if (scale === 1) return { bytes: image.get_bytes_webp() as Uint8Array<ArrayBuffer>, width, height };
    const small = resize(image, w, h, SamplingFilter.Lanczos3);
    try {
      return { bytes: small.get_bytes_webp() as Uint8Array<ArrayBuffer>, width: w, height: h };
    } finally {
      small.free();
    }
  } finally {
    image.free();
  }
}
