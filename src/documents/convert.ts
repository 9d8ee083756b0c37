import type { PhotonImage } from "@cf-wasm/photon";

// photon (its WebAssembly is instantiated when its module is evaluated), image-size and the
// Markdown renderer (markdown-it, entities' decoding tables: ./markdown-page.ts) are imported when a
// conversion first needs them, not when the worker starts: most requests convert nothing, and a new
// isolate's startup is paid before its first request ("Startup" in the README). Each call awaits its
// own `import()`; the module registry evaluates a module once and returns the same namespace after.

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

/** Markdown larger than this is not rendered on request (the source and the page are held whole). */
export const MAX_MARKDOWN_BYTES = 4 * 1024 * 1024;

/**
 * Conversions (an image's original, its decoded pixels and the encoded result) running at once in
 * one isolate: each may hold ~24 MB + 48 MB + its output, and an isolate has 128 MB. Beyond it a
 * request waits up to `DECODE_WAIT_MS`, then `DecodersBusyError` (OWASP API4:2023).
 */
export const MAX_CONCURRENT_DECODES = 1;
/** How long a conversion waits for a free slot before giving up. */
export const DECODE_WAIT_MS = 2_000;
const DECODE_POLL_MS = 20;
let decodesRunning = 0;

/** Every conversion slot of this isolate stayed taken for as long as a request may wait. */
export class DecodersBusyError extends Error {
  constructor() {
    super("every image conversion slot of this instance is busy");
    this.name = "DecodersBusyError";
  }
}

/**
 * Runs `work` in one of the isolate's `MAX_CONCURRENT_DECODES` conversion slots, waiting up to
 * `waitMs` for one (polling: a promise resolved by another request's work would cross request
 * contexts in workerd). Throws `DecodersBusyError` when none came free in time.
 */
export async function withDecodeSlot<T>(work: () => Promise<T>, waitMs = DECODE_WAIT_MS): Promise<T> {
  const deadline = Date.now() + waitMs;
  while (decodesRunning >= MAX_CONCURRENT_DECODES) {
    if (Date.now() >= deadline) throw new DecodersBusyError();
    await new Promise((resolve) => setTimeout(resolve, DECODE_POLL_MS));
  }
  decodesRunning += 1;
  try {
    return await work();
  } finally {
    decodesRunning -= 1;
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
async function decodable(bytes: Uint8Array): Promise<PhotonImage> {
  const [{ imageSize }, { PhotonImage }] = await Promise.all([import("image-size"), import("@cf-wasm/photon")]);
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

/**
 * Changes whenever the same Markdown renders differently (these rules, an upgrade of marked that
 * changes its output): it is part of a converted page's entity tag, so that a page an older
 * renderer made is not revalidated as current (RFC 9110 §8.8.3).
 */
export const MARKDOWN_RENDERING = "3";

/**
 * The Content-Security-Policy (CSP Level 3) of a converted page, a second lock behind the checked
 * links: no scripts, styles, frames, forms, plugins or `<base>`; images from the platform or over
 * https; never framed; `sandbox`, so the page runs in an opaque origin with scripts off even if
 * markup got through. Sent beside the platform's own policy; a browser enforces both.
 */
export const MARKDOWN_PAGE_POLICY =
  "default-src 'none'; img-src 'self' https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox";

/** URL schemes (RFC 3986 §3.1, as WHATWG URL's `protocol`) a rendered link may use. */
export const LINK_SCHEMES: ReadonlySet<string> = new Set(["http:", "https:", "mailto:"]);
/** URL schemes a rendered image may be loaded from. */
export const IMAGE_SCHEMES: ReadonlySet<string> = new Set(["http:", "https:"]);

/**
 * Markdown to a standalone HTML page (./markdown-page.ts: markdown-it, links and images of safe
 * schemes only, raw HTML as text), loaded on the first call.
 */
export async function markdownToHtml(source: string, title: string): Promise<string> {
  const { renderMarkdownPage } = await import("./markdown-page.ts");
  return renderMarkdownPage(source, title);
}

export type ImageFormat = "webp" | "png";

/** Re-encodes an image (PNG, JPEG, GIF first frame, WebP) as WebP or PNG. */
export async function convertImage(bytes: Uint8Array, format: ImageFormat): Promise<Uint8Array<ArrayBuffer>> {
  const image = await decodable(bytes);
  try {
    // wasm-bindgen copies results out of wasm memory into a fresh ArrayBuffer.
    return (format === "webp" ? image.get_bytes_webp() : image.get_bytes()) as Uint8Array<ArrayBuffer>;
  } finally {
    image.free();
  }
}

/** A WebP thumbnail that fits in `max`×`max`, keeping the aspect ratio (never enlarged). */
export async function thumbnail(
  bytes: Uint8Array,
  max = 256,
): Promise<{ bytes: Uint8Array<ArrayBuffer>; width: number; height: number }> {
  const { resize, SamplingFilter } = await import("@cf-wasm/photon");
  const image = await decodable(bytes);
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
