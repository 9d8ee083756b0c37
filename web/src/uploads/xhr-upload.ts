import { contentDisposition, type Document, problemFrom } from "@techcorp/sdk";

/** What an upload reports as the browser sends the file, bytes. */
export interface Progress {
  sentBytes: number;
  totalBytes: number;
}

export interface XhrUploadOptions {
  file: File;
  /** A new version of this document instead of a new document (`POST /documents/{id}/versions`). */
  documentId?: string;
  contentType: string;
  /** A current access token (the caller refreshes it). */
  accessToken: string;
  tags?: string[];
  projectId?: string;
  onProgress(progress: Progress): void;
  signal: AbortSignal;
}

/**
 * `POST /documents` (or a new version) with the file as the raw body, through XMLHttpRequest: fetch cannot report an
 * upload's progress in browsers (a streamed request body needs HTTP/2 and Chromium alone), XHR's
 * `upload.onprogress` can. The file's name goes as `Content-Disposition` (the document's title, and
 * its download's name as uploaded, extension included).
 * @returns the new document (201), or the document with its new version
 * @throws ProblemError for any answer other than 201 (its problem+json body, request id included);
 *   a DOMException `AbortError` when `signal` aborts (the server then stores nothing);
 *   TypeError when the network fails.
 */
export function uploadWithXhr(options: XhrUploadOptions): Promise<Document> {
  // A new document is titled by its file's name (Content-Disposition); a new version keeps the
  // document's title.
  const query = new URLSearchParams();
  if (options.tags?.length) query.set("tags", options.tags.join(","));
  if (options.projectId) query.set("projectId", options.projectId);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(
      "POST",
      `${options.documentId ? `/documents/${encodeURIComponent(options.documentId)}/versions` : "/documents"}${
        query.size > 0 ? `?${query}` : ""
      }`,
    );
    xhr.setRequestHeader("authorization", `Bearer ${options.accessToken}`);
    xhr.setRequestHeader("content-type", options.contentType);
    xhr.setRequestHeader("content-disposition", contentDisposition(options.file.name));
    xhr.responseType = "text";
    xhr.upload.onprogress = (event) =>
      options.onProgress({
        sentBytes: event.loaded,
        totalBytes: event.lengthComputable ? event.total : options.file.size,
      });
    xhr.onload = () => {
      if (xhr.status === 201) {
        resolve(JSON.parse(xhr.responseText) as Document);
        return;
      }
      const response = new Response(xhr.responseText, {
        status: xhr.status,
        headers: {
          "content-type": xhr.getResponseHeader("content-type") ?? "",
          "x-request-id": xhr.getResponseHeader("x-request-id") ?? "",
        },
      });
      void problemFrom(response).then(reject);
    };
    xhr.onerror = () => reject(new TypeError("the upload failed: network error"));
    xhr.onabort = () => reject(new DOMException("the upload was cancelled", "AbortError"));
    options.signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(options.file);
  });
}
