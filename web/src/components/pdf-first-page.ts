import { GlobalWorkerOptions, getDocument } from "pdfjs-dist";
import workerUrl from "pdfjs-dist/build/pdf.worker.min.mjs?url";

// pdf.js parses in a worker of our own origin (a hashed file under /assets/).
GlobalWorkerOptions.workerSrc = workerUrl;

/** Widest the first page is drawn, CSS pixels. */
const MAX_WIDTH = 480;

/**
 * Draws a PDF's first page on `canvas`. Without font loading (`disableFontFace`: glyphs drawn as
 * paths), so nothing it does needs more than the page's `default-src 'self'`.
 * @throws pdf.js's errors for a damaged or encrypted file
 */
export async function renderFirstPage(data: ArrayBuffer, canvas: HTMLCanvasElement): Promise<void> {
  const task = getDocument({ data, disableFontFace: true });
  try {
    const pdf = await task.promise;
    const page = await pdf.getPage(1);
    const unscaled = page.getViewport({ scale: 1 });
    const viewport = page.getViewport({ scale: Math.min(MAX_WIDTH / unscaled.width, 2) * devicePixelRatio });
    canvas.width = Math.floor(viewport.width);
    canvas.height = Math.floor(viewport.height);
    await page.render({ canvas, viewport }).promise;
  } finally {
    await task.destroy();
  }
}
