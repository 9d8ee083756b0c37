import type { ZodError } from "zod";
import { ApiError, type FieldError } from "../pkg/errors/api-error.ts";
import type { ObjectStorage } from "../pkg/storage/storage.ts";
import { FormDataError, FormDataReader, formDataBoundary } from "./form-data.ts";
import { type StoredFile, storeFile } from "./upload.ts";

/** Room for the multipart envelope around the file (boundaries, headers, small fields). */
const FORM_OVERHEAD_BYTES = 64 * 1024;
const MAX_FIELD_BYTES = 4 * 1024;
const FIELDS = new Set(["title", "tags"]);

export interface ReceivedUpload {
  file: StoredFile;
  filename: string | null;
  /** Raw field values (validated by the caller's schema): from form parts, or the query for a raw body. */
  fields: { title?: string; tags?: string[] };
}

export interface UploadRequest {
  headers: {
    contentType: string | undefined;
    contentLength: string | undefined;
    contentDisposition: string | undefined;
  };
  body: ReadableStream<Uint8Array> | null;
  query: { title?: string | undefined; tags?: string | undefined };
}

const invalid = (errors: FieldError[]) =>
  new ApiError("validation_failed", {
    detail: errors.map((e) => `${e.in} ${e.pointer}: ${e.message}`).join("; "),
    errors,
  });

/** The filename of a raw upload, from `Content-Disposition: attachment; filename=…` if sent. */
function rawFilename(disposition: string | undefined): string | null {
  if (!disposition) return null;
  const extended = /filename\*=UTF-8''([^;\s]+)/i.exec(disposition)?.[1];
  if (extended) return decodeURIComponent(extended).slice(0, 255);
  return /filename="?([^";]+)"?/i.exec(disposition)?.[1]?.slice(0, 255) ?? null;
}

/**
 * Takes a document upload: `multipart/form-data` with a `file` part plus `title` and `tags`
 * fields (in any order), or the file as the raw body with its own Content-Type and the fields in
 * the query. The file is streamed to storage under `key`; when this throws, the caller removes
 * whatever may be stored there. Too large: 413 before reading when Content-Length says so, else as
 * soon as the limit is passed.
 */
export async function receiveUpload(
  storage: ObjectStorage,
  request: UploadRequest,
  options: { key: string; maxBytes: number },
): Promise<ReceivedUpload> {
  const { headers, body } = request;
  const boundary = formDataBoundary(headers.contentType);
  const declared = headers.contentLength === undefined ? undefined : Number(headers.contentLength);
  if (declared !== undefined && declared > options.maxBytes + (boundary ? FORM_OVERHEAD_BYTES : 0)) {
    throw new ApiError("payload_too_large", { detail: `The limit is ${options.maxBytes} bytes.` });
  }
  if (!body) throw invalid([{ in: "body", pointer: "/file", message: "no file was sent" }]);

  if (!boundary) {
    const filename = rawFilename(headers.contentDisposition);
    const file = await storeFile(storage, {
      key: options.key,
      body,
      declaredType: headers.contentType,
      filename: filename ?? undefined,
      maxBytes: options.maxBytes,
    });
    const fields: ReceivedUpload["fields"] = {};
    if (request.query.title !== undefined) fields.title = request.query.title;
    if (request.query.tags !== undefined) fields.tags = [request.query.tags];
    return { file, filename, fields };
  }

  const reader = new FormDataReader(body, boundary);
  let file: StoredFile | undefined;
  let filename: string | null = null;
  const fields: { title?: string; tags?: string[] } = {};
  try {
    for (let part = await reader.nextPart(); part; part = await reader.nextPart()) {
      if (part.name === "file") {
        if (file) throw invalid([{ in: "body", pointer: "/file", message: "send one file" }]);
        filename = part.filename?.slice(0, 255) ?? null;
        file = await storeFile(storage, {
          key: options.key,
          body: reader.bodyStream(),
          declaredType: part.contentType,
          filename: part.filename,
          maxBytes: options.maxBytes,
        });
      } else if (FIELDS.has(part.name)) {
        const value = await reader.text(MAX_FIELD_BYTES);
        if (part.name === "title") fields.title = value;
        else fields.tags = [...(fields.tags ?? []), value];
      } else {
        throw invalid([{ in: "body", pointer: `/${part.name}`, message: "unexpected field" }]);
      }
    }
    if (!file) throw invalid([{ in: "body", pointer: "/file", message: "no file part" }]);
    return { file, filename, fields };
  } catch (error) {
    await reader.cancel();
    if (error instanceof FormDataError)
      throw new ApiError("bad_request", { detail: `Malformed multipart body: ${error.message}.` });
    throw error;
  }
}

/** Field errors for upload fields, in the body for a form upload, in the query for a raw one. */
export function uploadFieldErrors(error: ZodError, form: boolean): FieldError[] {
  return error.issues.map((issue) => ({
    in: form ? "body" : "query",
    pointer: `/${String(issue.path[0] ?? "")}`,
    message: issue.message,
  }));
}
