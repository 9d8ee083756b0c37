import type { Document } from "@techcorp/sdk";
import { useRef, useState } from "preact/hooks";
import { cancel, clearFinished, enqueue, uploads } from "../uploads/upload-queue.ts";
import { formatBytes } from "./format.ts";
import { ProblemMessage } from "./problem-message.tsx";

/**
 * Drop files here, or choose them with the button (the keyboard's way); each gets a progress bar
 * and a Cancel button while it uploads.
 */
export function UploadZone({ onUploaded }: { onUploaded: (document: Document) => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const queue = uploads.value;

  const add = (files: FileList | null) => {
    if (files && files.length > 0) enqueue([...files], onUploaded);
  };

  return (
    <section aria-labelledby="upload-heading" class="upload">
      <h2 id="upload-heading">Upload</h2>
      {/* biome-ignore lint/a11y/noStaticElementInteractions: a drop target for a pointer; the button inside is the keyboard's way to the same files. */}
      <div
        class={over ? "dropzone over" : "dropzone"}
        onDragOver={(event) => {
          event.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(event) => {
          event.preventDefault();
          setOver(false);
          add(event.dataTransfer?.files ?? null);
        }}
      >
        <p>Drop files here (PDF, Word, images, text, Markdown, CSV, HTML) or</p>
        <button type="button" onClick={() => input.current?.click()}>
          Choose files…
        </button>
        <input
          ref={input}
          type="file"
          multiple
          class="visually-hidden"
          aria-label="Files to upload"
          onChange={(event) => {
            add((event.currentTarget as HTMLInputElement).files);
            (event.currentTarget as HTMLInputElement).value = "";
          }}
        />
      </div>
      {queue.length > 0 ? (
        <>
          <ul class="upload-queue">
            {queue.map((upload) => (
              <li key={upload.id}>
                <label for={`upload-${upload.id}`}>
                  {upload.name} <span class="muted">({formatBytes(upload.sizeBytes)})</span>
                </label>
                <progress id={`upload-${upload.id}`} max={upload.sizeBytes || 1} value={upload.sentBytes} />
                <span class="upload-state">
                  {upload.state === "uploading"
                    ? `${Math.floor((upload.sentBytes / (upload.sizeBytes || 1)) * 100)}%`
                    : upload.state === "done"
                      ? "Uploaded"
                      : upload.state === "queued"
                        ? "Waiting"
                        : upload.state === "cancelled"
                          ? "Cancelled"
                          : "Failed"}
                </span>
                {upload.state === "queued" || upload.state === "uploading" ? (
                  <button type="button" class="secondary" onClick={() => cancel(upload.id)}>
                    Cancel<span class="visually-hidden"> {upload.name}</span>
                  </button>
                ) : null}
                {upload.state === "failed" ? <ProblemMessage error={upload.error} /> : null}
              </li>
            ))}
          </ul>
          <button type="button" class="secondary" onClick={clearFinished}>
            Clear finished
          </button>
        </>
      ) : null}
    </section>
  );
}
