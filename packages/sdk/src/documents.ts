import type { ApiClient } from "./api-client.ts";
import type { components, paths } from "./generated/openapi.ts";
import { okOrThrow } from "./problem.ts";
import type { AuthorizedFetch } from "./transport.ts";

export type Document = components["schemas"]["Document"];

/** Bytes sent so far, and the total when the source's size is known (a Blob, bytes, or `size`). */
export interface UploadProgress {
  bytesSent: number;
  totalBytes: number | undefined;
}

/** What `uploadDocument` sends. */
export interface UploadOptions {
  /**
   * The file. A `ReadableStream` is streamed as it is read and never held whole in memory; it can
   * be read once, so the upload is not retried after a 401 (the session is refreshed for the next
   * call). Bytes and Blobs are retried once, as other calls are.
   */
  body: ReadableStream<Uint8Array> | Blob | Uint8Array | ArrayBuffer;
  /** The file's media type (`application/pdf`, `text/markdown` …); it must agree with its first bytes. */
  contentType: string;
  /** The file's name, sent as `Content-Disposition: attachment; filename*=UTF-8''…`; the default title. */
  filename?: string;
  title?: string;
  tags?: string[];
  /** File it in this project (editors and up). */
  projectId?: string;
  /** The size in bytes of a stream `body`, for `totalBytes` only (nothing is checked against it). */
  size?: number;
  /**
   * Called as the HTTP stack reads the body: `bytesSent` counts bytes handed to the connection, which
   * may run ahead of what the server has received by the socket buffers. Needs a streamed request
   * body (Node, Deno, Chromium over HTTP/2); see the README for browsers.
   */
  onProgress?: (progress: UploadProgress) => void;
  /** Aborts the upload: the call rejects with the signal's reason and the server stores nothing. */
  signal?: AbortSignal;
}

type UploadQuery = NonNullable<paths["/documents"]["post"]["parameters"]["query"]>;

/** RFC 8187 `filename*` beside an ASCII `filename` fallback (RFC 6266 §4.3). */
export function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, "_");
  const encoded = encodeURIComponent(filename).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * The body handed to fetch: `source` read a chunk at a time as fetch asks for it (nothing read
 * ahead), each chunk reported to `onProgress`, and `source` cancelled when `signal` aborts. The
 * cancel is ours because Node's fetch (undici 7) goes on draining a request body after an abort
 * instead of cancelling it: an endless or slow source then spins forever (nodejs/node#61460 is the
 * same gap for a closed connection). Erroring this stream stops the draining.
 */
function outgoing(
  source: ReadableStream<Uint8Array>,
  totalBytes: number | undefined,
  onProgress: ((progress: UploadProgress) => void) | undefined,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let bytesSent = 0;
  let stop = () => {};
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const abort = () => {
          controller.error(signal?.reason);
          void reader.cancel(signal?.reason).catch(() => {});
        };
        signal?.addEventListener("abort", abort, { once: true });
        stop = () => signal?.removeEventListener("abort", abort);
      },
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) {
          stop();
          controller.close();
          return;
        }
        controller.enqueue(value);
        bytesSent += value.byteLength;
        onProgress?.({ bytesSent, totalBytes });
      },
      cancel(reason) {
        stop();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** The bytes as a view of an ArrayBuffer (what a Blob takes), copied only from a SharedArrayBuffer. */
function unshared(data: Uint8Array | ArrayBuffer): Uint8Array<ArrayBuffer> {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data.buffer instanceof ArrayBuffer
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
}

/**
 * Uploads a document as the raw request body (`POST /documents` with the file's own Content-Type;
 * title, tags and project in the query), streamed: memory holds a chunk at a time, whatever the
 * file's size.
 * @returns the new document (`status: "pending"`; processing follows: poll `GET /documents/{id}`)
 * @throws ProblemError 413 `payload_too_large` (past `MAX_UPLOAD_BYTES`, 100 MiB by default), 415
 *   `unsupported_media_type` (type not allowed, or not what the bytes are), 403 `quota_exceeded`,
 *   400 for an empty file; the signal's reason when aborted; `TypeError` on a network failure.
 */
export async function uploadDocument(api: ApiUpload, options: UploadOptions): Promise<Document> {
  const query: UploadQuery = {
    ...(options.title === undefined ? {} : { title: options.title }),
    ...(options.tags === undefined ? {} : { tags: options.tags.join(",") }),
    ...(options.projectId === undefined ? {} : { projectId: options.projectId }),
  };
  const search = new URLSearchParams(Object.entries(query).map(([name, value]) => [name, String(value)])).toString();
  // A string, not a URL: a relative baseUrl (a browser app on the API's origin) stays relative.
  const url = `${api.baseUrl}/documents${search ? `?${search}` : ""}`;
  const headers = new Headers({ "content-type": options.contentType });
  if (options.filename !== undefined) headers.set("content-disposition", contentDisposition(options.filename));

  const { body, onProgress } = options;
  const streamed = body instanceof ReadableStream;
  const totalBytes = streamed ? options.size : body instanceof Blob ? body.size : body.byteLength;
  const payload = (): NonNullable<RequestInit["body"]> => {
    if (streamed) return outgoing(body, totalBytes, onProgress, options.signal);
    const blob = body instanceof Blob ? body : new Blob([unshared(body)]);
    return onProgress ? outgoing(blob.stream(), totalBytes, onProgress, options.signal) : blob;
  };
  const request = () =>
    new Request(url, {
      method: "POST",
      headers,
      body: payload(),
      signal: options.signal ?? null,
      // A stream body needs it (Fetch standard; RequestInit's types lack it); ignored for the others.
      duplex: "half",
    } as RequestInit);
  const response = await okOrThrow(await api.fetch(request(), streamed ? undefined : request));
  return (await response.json()) as Document;
}

/** What `uploadDocument` needs of the client: where the API is, and its authorized fetch. */
export interface ApiUpload {
  baseUrl: string;
  fetch: AuthorizedFetch;
}

/** A download's body, unread, and what its headers say. */
export interface Download {
  /** The bytes, as they arrive: read it, pipe it, or cancel it; nothing is buffered by the SDK. */
  body: ReadableStream<Uint8Array>;
  /** The content's size in bytes (`Content-Length`); undefined when the answer came compressed (browsers). */
  size: number | undefined;
  contentType: string | undefined;
  /** The stored name, from `Content-Disposition` (`filename*` preferred). */
  filename: string | undefined;
  /** The strong ETag of this content (its SHA-256), for `If-None-Match` / `If-Range`. */
  etag: string | undefined;
  response: Response;
}

export type DownloadQuery = NonNullable<paths["/documents/{id}/content"]["get"]["parameters"]["query"]>;

/** The file name a `Content-Disposition` header gives (`filename*` of RFC 8187 first). */
export function filenameOf(disposition: string | null): string | undefined {
  if (!disposition) return undefined;
  const extended = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(disposition)?.[1];
  if (extended) {
    try {
      return decodeURIComponent(extended.trim());
    } catch {
      // A malformed filename* falls back to filename.
    }
  }
  return /filename\s*=\s*"((?:[^"\\]|\\.)*)"/i.exec(disposition)?.[1]?.replace(/\\(.)/g, "$1");
}

/**
 * Downloads a document's content (`GET /documents/{id}/content`) as a stream, without buffering it.
 * @param query `version` (default the current one), `format` (`original`, or a conversion: `html`
 *   for Markdown, `webp`/`png` for images), `disposition`
 * @throws ProblemError 404 (no such document, or not visible to the caller), 409 (not scanned yet,
 *   or quarantined), 422 (a conversion the content cannot take)
 */
export async function downloadDocument(
  api: ApiClient,
  id: string,
  query: DownloadQuery = {},
  signal?: AbortSignal,
): Promise<Download> {
  const { data, response } = await api.GET("/documents/{id}/content", {
    params: { path: { id }, query },
    parseAs: "stream",
    // The stored bytes with their Content-Length: the edge (and wrangler dev) gzips text for clients
    // that accept it, and a compressed answer has no length. Browsers do not let a page set this
    // header: there a text file may arrive compressed (decoded by the browser) and `size` be unknown.
    headers: { "accept-encoding": "identity" },
    ...(signal ? { signal } : {}),
  });
  const length = response.headers.get("content-length");
  return {
    // openapi-fetch answers no body for a Content-Length of 0: an empty file.
    body: data ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() }),
    size: length === null ? undefined : Number(length),
    contentType: response.headers.get("content-type") ?? undefined,
    filename: filenameOf(response.headers.get("content-disposition")),
    etag: response.headers.get("etag") ?? undefined,
    response,
  };
}
