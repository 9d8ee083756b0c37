import type { ByteRange } from "../pkg/storage/storage.ts";

/**
 * The single byte range of a `Range` header (RFC 9110 §14.1.2): `bytes=0-99`, `bytes=100-`, or a
 * suffix `bytes=-500` (needs the size). Several ranges, or anything malformed, mean the whole
 * representation, which the RFC allows.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | "unsatisfiable" | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? "");
  if (!match) return undefined;
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return undefined;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}

const INLINE_SAFE = new Set(["application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain"]);

/**
 * Content-Disposition (RFC 6266) with an ASCII fallback name and the UTF-8 one. HTML and anything
 * not known to be safe are always downloaded, never rendered in our origin.
 */
export function contentDisposition(filename: string, contentType: string, wanted: "attachment" | "inline"): string {
  const type = wanted === "inline" && INLINE_SAFE.has(contentType) ? "inline" : "attachment";
  const ascii = filename.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
  return `${type}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

/** A file name for a download: the uploaded name, or the title with an extension for its type. */
export function downloadName(filename: string | null, title: string, contentType: string): string {
  if (filename) return filename;
  const extension: Record<string, string> = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "text/plain": "txt",
    "text/markdown": "md",
    "text/html": "html",
    "text/csv": "csv",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
  };
  return `${title.replace(/[/\\]/g, "_")}.${extension[contentType] ?? "bin"}`;
}
