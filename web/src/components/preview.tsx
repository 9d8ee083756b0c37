import type { Document } from "@techcorp/sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { client } from "../session/session.ts";

/** Text and Markdown shown inline up to this size, bytes; larger files are downloaded instead. */
const INLINE_TEXT_BYTES = 512 * 1024;
/** Plain text is shown up to this many characters (its start), the page not growing without end. */
const TEXT_PREVIEW_CHARACTERS = 20_000;

/**
 * A look at the document without downloading it:
 * - images: the thumbnail (WebP, at most 256 px), drawn on a canvas;
 * - PDF: its first page, rendered by pdf.js on a canvas (loaded only here);
 * - Markdown: rendered by markdown-it with raw HTML off (tags show as text) and only safe link
 *   schemes (its default link validation), so the document cannot inject markup or script;
 * - text and CSV: the text itself.
 * Images go on canvases, never `blob:` URLs, which `Content-Security-Policy: default-src 'self'` refuses.
 */
export function Preview({ document }: { document: Document }) {
  // Processing ended without a readable file: say so, not "once it is ready", which it never will be.
  if (document.status === "failed")
    return (
      <p class="muted">
        No preview: this file could not be processed (see its status). Upload a new version to replace it.
      </p>
    );
  if (document.status === "quarantined")
    return <p class="muted">No preview: this file was quarantined (malware was found in it) and is not served.</p>;
  if (document.status !== "ready") return <p class="muted">A preview is shown once the document is ready.</p>;
  if (document.contentType.startsWith("image/")) return <ImagePreview document={document} />;
  if (document.contentType === "application/pdf") return <PdfPreview document={document} />;
  if (document.sizeBytes > INLINE_TEXT_BYTES) return <p class="muted">Too large to preview: download it.</p>;
  if (document.contentType.startsWith("text/markdown")) return <MarkdownPreview document={document} />;
  if (document.contentType.startsWith("text/plain") || document.contentType.startsWith("text/csv"))
    return <TextPreview document={document} />;
  return <p class="muted">No preview for this type: download it.</p>;
}

async function contentBlob(path: "/documents/{id}/thumbnail" | "/documents/{id}/content", id: string): Promise<Blob> {
  const { data } = await client.api.GET(path, { params: { path: { id } }, parseAs: "blob" });
  return data as Blob;
}

function ImagePreview({ document }: { document: Document }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let cancelled = false;
    contentBlob("/documents/{id}/thumbnail", document.id)
      .then((blob) => createImageBitmap(blob))
      .then((bitmap) => {
        const target = canvas.current;
        if (cancelled || !target) return;
        target.width = bitmap.width;
        target.height = bitmap.height;
        target.getContext("2d")?.drawImage(bitmap, 0, 0);
      })
      .catch(() => setFailed(true));
    return () => {
      cancelled = true;
    };
  }, [document.id, document.currentVersion]);
  if (failed) return <p class="muted">No thumbnail for this image.</p>;
  return <canvas ref={canvas} class="thumbnail" role="img" aria-label={`Thumbnail of ${document.title}`} />;
}

function PdfPreview({ document }: { document: Document }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let cancelled = false;
    (async () => {
      const [{ renderFirstPage }, blob] = await Promise.all([
        import("./pdf-first-page.ts"),
        contentBlob("/documents/{id}/content", document.id),
      ]);
      const target = canvas.current;
      if (!cancelled && target) await renderFirstPage(await blob.arrayBuffer(), target);
    })().catch(() => setFailed(true));
    return () => {
      cancelled = true;
    };
  }, [document.id, document.currentVersion]);
  if (failed) return <p class="muted">The PDF could not be previewed: download it.</p>;
  return <canvas ref={canvas} class="pdf-page" role="img" aria-label={`First page of ${document.title}`} />;
}

function useText(document: Document): string | undefined {
  const [text, setText] = useState<string | undefined>();
  useEffect(() => {
    let cancelled = false;
    contentBlob("/documents/{id}/content", document.id)
      .then((blob) => blob.text())
      .then((value) => {
        if (!cancelled) setText(value);
      })
      .catch(() => setText(""));
    return () => {
      cancelled = true;
    };
  }, [document.id, document.currentVersion]);
  return text;
}

function TextPreview({ document }: { document: Document }) {
  const text = useText(document);
  if (text === undefined) return <p aria-busy="true">Loading the preview…</p>;
  return (
    <pre class="text-preview">
      {text.length > TEXT_PREVIEW_CHARACTERS ? `${text.slice(0, TEXT_PREVIEW_CHARACTERS)}\n…` : text}
    </pre>
  );
}

function MarkdownPreview({ document }: { document: Document }) {
  const text = useText(document);
  const [html, setHtml] = useState<string | undefined>();
  useEffect(() => {
    if (text === undefined) return;
    void import("./markdown.ts").then(({ renderMarkdown }) => setHtml(renderMarkdown(text)));
  }, [text]);
  if (html === undefined) return <p aria-busy="true">Loading the preview…</p>;
  // markdown-it with `html: false` escapes every tag of the source; see markdown.ts.
  return <article class="markdown-preview" dangerouslySetInnerHTML={{ __html: html }} />;
}
