import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { type components, type Document, ProblemError, type TechCorpClient } from "@techcorp/sdk";
import type { LocalFile } from "./files.ts";

/**
 * Files from this size on go through the API's resumable upload (`POST /uploads`, parts of
 * `partBytes`, then `complete`; README "Resumable uploads"), so a cut connection or an interrupted
 * run costs one part, not the file: 8 MiB, the size from which the API itself uploads in parts.
 */
export const RESUMABLE_FROM_BYTES = 8 * 1024 * 1024;

/** Where a file's unfinished upload is remembered between runs: by path, size and modification time. */
interface Pending {
  apiUrl: string;
  uploadId: string;
  sizeBytes: number;
  modifiedAt: number;
}

/**
 * The unfinished uploads of `uploads.json` (mode 0600) in the CLI's config directory: one store per
 * run, shared by its concurrent uploads, whose writes are made one after the other.
 */
export class PendingUploads {
  private entries: Record<string, Pending> | undefined;
  private writes: Promise<void> = Promise.resolve();
  private readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  static in(directory: string): PendingUploads {
    return new PendingUploads(path.join(directory, "uploads.json"));
  }

  async get(filePath: string): Promise<Pending | undefined> {
    return (await this.load())[filePath];
  }

  async set(filePath: string, pending: Pending | undefined): Promise<void> {
    const entries = await this.load();
    if (pending) entries[filePath] = pending;
    else delete entries[filePath];
    const text = `${JSON.stringify(entries, null, 2)}\n`;
    this.writes = this.writes.then(async () => {
      const temporary = `${this.file}.${process.pid}.tmp`;
      await writeFile(temporary, text, { mode: 0o600 });
      await rename(temporary, this.file);
    });
    await this.writes;
  }

  private async load(): Promise<Record<string, Pending>> {
    if (!this.entries) {
      try {
        this.entries = JSON.parse(await readFile(this.file, "utf8")) as Record<string, Pending>;
      } catch {
        this.entries = {};
      }
    }
    return this.entries;
  }
}

export interface ResumableOptions {
  client: TechCorpClient;
  file: LocalFile & { contentType: string };
  /** Where unfinished uploads are remembered between runs. */
  pending: PendingUploads;
  title?: string;
  tags?: string[];
  projectId?: string;
  /** Bytes of the file stored so far (parts received), absolute. */
  onProgress(sentBytes: number): void;
  signal: AbortSignal;
}

/**
 * Uploads a large file in parts, resuming the upload a previous run left unfinished for the same
 * file (same path, size and modification time; its parts already received are not sent again).
 * @returns the new document
 * @throws ProblemError for the API's refusals (415 type, 413 size, 403 quota, …); the signal's
 *   reason when aborted (the upload stays open for the next run, until its `expiresAt`, 24 h)
 */
export async function uploadResumable(options: ResumableOptions): Promise<Document> {
  const { client, file, signal } = options;
  const api = client.api;
  const known = await options.pending.get(file.path);
  let upload: components["schemas"]["Upload"] | undefined;
  if (
    known &&
    known.apiUrl === client.baseUrl &&
    known.sizeBytes === file.sizeBytes &&
    known.modifiedAt === file.modifiedAt
  ) {
    upload = await api
      .GET("/uploads/{id}", { params: { path: { id: known.uploadId } }, signal })
      .then(({ data }) => data)
      .catch((error: unknown) => {
        // Expired, aborted or completed elsewhere: start again.
        if (error instanceof ProblemError && error.status === 404) return undefined;
        throw error;
      });
  }
  // Completed on the last run after all (interrupted while the answer was on its way): that
  // document is this file's, not a reason to send it again.
  if (upload?.status === "completed" && upload.documentId) {
    await options.pending.set(file.path, undefined);
    options.onProgress(file.sizeBytes);
    return documentOf(api, upload.documentId, signal);
  }
  if (upload?.status !== "open") {
    const sha256 = await fileSha256(file.path, signal);
    const { data } = await api.POST("/uploads", {
      body: {
        filename: path.basename(file.path),
        contentType: file.contentType,
        size: file.sizeBytes,
        sha256,
        ...(options.title ? { title: options.title } : {}),
        ...(options.tags ? { tags: options.tags } : {}),
        ...(options.projectId ? { projectId: options.projectId } : {}),
      },
      signal,
    });
    await options.pending.set(file.path, {
      apiUrl: client.baseUrl,
      uploadId: data.id,
      sizeBytes: file.sizeBytes,
      modifiedAt: file.modifiedAt,
    });
    upload = { ...data, parts: [] };
  }

  const received = new Map(upload.parts.map((part) => [part.partNumber, part.sizeBytes]));
  const sum = () => [...received.values()].reduce((total, bytes) => total + bytes, 0);
  options.onProgress(sum());
  const handle = await open(file.path, "r");
  try {
    for (let partNumber = 1; partNumber <= upload.partCount; partNumber++) {
      if (received.has(partNumber)) continue;
      const start = (partNumber - 1) * upload.partBytes;
      const length = Math.min(upload.partBytes, file.sizeBytes - start);
      // One part (5 MiB) in memory at a time per file: it can then be sent again after a refresh.
      const part = new Uint8Array(length);
      await handle.read(part, 0, length, start);
      await api.PUT("/uploads/{id}/parts/{partNumber}", {
        params: { path: { id: upload.id, partNumber } },
        headers: { "content-type": "application/octet-stream" },
        // The bytes as they are: openapi-fetch would otherwise serialize the body as JSON.
        body: "",
        bodySerializer: () => part,
        signal,
      });
      received.set(partNumber, length);
      options.onProgress(sum());
    }
  } finally {
    await handle.close();
  }
  const { data: completed } = await api.POST("/uploads/{id}/complete", { params: { path: { id: upload.id } }, signal });
  await options.pending.set(file.path, undefined);
  if (!completed.documentId) throw new Error(`upload ${upload.id} completed without a document`);
  return documentOf(api, completed.documentId, signal);
}

async function documentOf(api: TechCorpClient["api"], id: string, signal: AbortSignal): Promise<Document> {
  const { data } = await api.GET("/documents/{id}", { params: { path: { id } }, signal });
  return data;
}

async function fileSha256(file: string, signal: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file, { signal })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
