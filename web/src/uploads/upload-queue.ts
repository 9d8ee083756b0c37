import { signal } from "@preact/signals";
import type { Document } from "@techcorp/sdk";
import mime from "mime/lite";
import { client } from "../session/session.ts";
import { uploadWithXhr } from "./xhr-upload.ts";

/** One file of the upload queue, as the page shows it. */
export interface QueuedUpload {
  id: number;
  name: string;
  sizeBytes: number;
  sentBytes: number;
  state: "queued" | "uploading" | "done" | "failed" | "cancelled";
  error?: unknown;
  document?: Document;
  controller: AbortController;
}

/** Files sent at once; the others wait their turn. */
const CONCURRENT_UPLOADS = 3;

/** The queue of this tab's uploads, newest last. */
export const uploads = signal<QueuedUpload[]>([]);
let nextId = 1;

function update(id: number, change: Partial<QueuedUpload>) {
  uploads.value = uploads.value.map((upload) => (upload.id === id ? { ...upload, ...change } : upload));
}

/**
 * Queues files for upload (three at a time) and returns at once; `onUploaded` is called with each
 * new document. The media type is the browser's, or else the extension's (browsers give none for
 * `.md`); the API checks it against the file's first bytes.
 */
export function enqueue(files: readonly File[], onUploaded: (document: Document) => void): void {
  const added = files.map(
    (file): QueuedUpload => ({
      id: nextId++,
      name: file.name,
      sizeBytes: file.size,
      sentBytes: 0,
      state: "queued",
      controller: new AbortController(),
    }),
  );
  uploads.value = [...uploads.value, ...added];
  added.forEach((upload, index) => {
    const file = files[index];
    if (file) waiting.push({ upload, file, onUploaded });
  });
  pump();
}

/** Cancels a queued or running upload; the server keeps nothing of it. */
export function cancel(id: number): void {
  const upload = uploads.value.find((candidate) => candidate.id === id);
  if (!upload || upload.state === "done" || upload.state === "failed") return;
  upload.controller.abort();
  update(id, { state: "cancelled" });
}

/** Removes finished, failed and cancelled uploads from the list. */
export function clearFinished(): void {
  uploads.value = uploads.value.filter((upload) => upload.state === "queued" || upload.state === "uploading");
}

const waiting: { upload: QueuedUpload; file: File; onUploaded: (document: Document) => void }[] = [];
let running = 0;

function pump() {
  while (running < CONCURRENT_UPLOADS && waiting.length > 0) {
    const next = waiting.shift();
    if (!next || next.upload.controller.signal.aborted) continue;
    running += 1;
    void send(next.upload, next.file, next.onUploaded).finally(() => {
      running -= 1;
      pump();
    });
  }
}

async function send(upload: QueuedUpload, file: File, onUploaded: (document: Document) => void) {
  update(upload.id, { state: "uploading" });
  try {
    const accessToken = await client.accessToken();
    if (!accessToken) throw new Error("Signed out: sign in again to upload.");
    const document = await uploadWithXhr({
      file,
      contentType: file.type || mime.getType(file.name) || "application/octet-stream",
      accessToken,
      onProgress: ({ sentBytes }) => update(upload.id, { sentBytes }),
      signal: upload.controller.signal,
    });
    update(upload.id, { state: "done", sentBytes: file.size, document });
    onUploaded(document);
  } catch (error) {
    if (upload.controller.signal.aborted) return;
    update(upload.id, { state: "failed", error });
  }
}
