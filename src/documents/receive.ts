import { parse as parseDisposition } from "content-disposition";
import type { ZodError } from "zod";
import { ApiError, type FieldError } from "../pkg/errors/api-error.ts";
import { RequestBodyError } from "../pkg/errors/request-body.ts";
import { byteSource, type ObjectStorage } from "../pkg/storage/storage.ts";
import { textProblem } from "../pkg/validation/postgres.ts";
import { decodeField, FormDataError, FormDataReader, formDataBoundary } from "./form-data.ts";
import { type StoredFile, storeFile } from "./upload.ts";

// The upload path classifies a broken body itself (it has an upload to undo).
export { RequestBodyError };

/** Room for the multipart envelope around the file (boundaries, headers, small fields). */
const FORM_OVERHEAD_BYTES = 64 * 1024;
const MAX_FIELD_BYTES = 4 * 1024;
const FIELDS = new Set(["title", "tags"]);
/** RFC 7578 §4.6: a form's `_charset_` field names the charset of its fields without one. */
const CHARSET_FIELD = "_charset_";

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

/** A part of a single-valued field that came again (RFC 7578 §4.3 lets a form repeat a name). */
const sentTwice = (name: string) => invalid([{ in: "body", pointer: `/${name}`, message: "sent more than once" }]);

const malformed = (error: FormDataError) =>
  new ApiError("bad_request", { detail: `Malformed multipart body: ${error.message}.` });

/**
 * A file name as sent, without any path (RFC 6266 §4.3, RFC 7578 §4.2: recipients drop directory
 * components, `/` or `\`), at most 255 characters; null when nothing is left.
 */
export function baseName(filename: string | undefined): string | null {
  const base = filename?.split(/[/\\]/).pop()?.trim().slice(0, 255);
  return base ? base : null;
}

/**
 * The filename of a raw upload, from `Content-Disposition: attachment; filename=…` if sent
 * (RFC 6266 §4.1): `filename*` (RFC 8187, UTF-8 or ISO-8859-1) when it is well-formed, otherwise
 * `filename`; a malformed value is never an error, only absent.
 */
function rawFilename(disposition: string | undefined): string | null {
  if (!disposition) return null;
  return baseName(parseDisposition(disposition).parameters.filename);
}

/**
 * `filename` unless Postgres text cannot hold it (U+0000, e.g. from `filename*=UTF-8''a%00b`, or an
 * unpaired surrogate): then a 400 naming where it came from, since it is stored with the version.
 */
function storableFilename(filename: string | null, where: Omit<FieldError, "message">): string | null {
  const problem = filename === null ? undefined : textProblem(filename);
  if (problem) throw invalid([{ ...where, message: `the filename ${problem}` }]);
  return filename;
}

/**
 * Takes a document upload: `multipart/form-data` with a `file` part plus `title` and `tags`
 * fields (in any order), or the file as the raw body with its own Content-Type and the fields in
 * the query. The file is streamed to storage under `key`; when this throws, the caller removes
 * whatever may be stored there. Too large: 413 before reading when Content-Length says so, else as
 * soon as the limit is passed. A single-valued field sent twice (`title`, `file`, `_charset_`) is a
 * 400 naming it; `tags` may repeat (a form's way of sending a list). A failed read of the request
 * body throws `RequestBodyError`.
 */
export async function receiveUpload(
  storage: ObjectStorage,
  request: UploadRequest,
  options: {
    key: string;
    maxBytes: number;
    /** The error for a file past `maxBytes` (given the bytes known to be sent); a 413 by default. */
    tooLarge?: (requested: number) => ApiError;
  },
): Promise<ReceivedUpload> {
  const { headers } = request;
  // Read errors are the client's (a broken connection): classified where the body is read.
  const body = request.body && byteSource(request.body, (error) => new RequestBodyError(error));
  let boundary: string | undefined;
  try {
    boundary = formDataBoundary(headers.contentType);
  } catch (error) {
    if (error instanceof FormDataError) throw malformed(error);
    throw error;
  }
  const declared = headers.contentLength === undefined ? undefined : Number(headers.contentLength);
  if (declared !== undefined && declared > options.maxBytes + (boundary ? FORM_OVERHEAD_BYTES : 0)) {
    throw (
      options.tooLarge?.(boundary ? declared - FORM_OVERHEAD_BYTES : declared) ??
      new ApiError("payload_too_large", { detail: `The limit is ${options.maxBytes} bytes.` })
    );
  }
  if (!body) throw invalid([{ in: "body", pointer: "/file", message: "no file was sent" }]);

  if (!boundary) {
    const filename = storableFilename(rawFilename(headers.contentDisposition), {
      in: "header",
      pointer: "/content-disposition",
    });
    const file = await storeFile(storage, {
      key: options.key,
      body,
      declaredType: headers.contentType,
      filename: filename ?? undefined,
      maxBytes: options.maxBytes,
      tooLarge: options.tooLarge,
      lengthAtMost: declared,
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
  const raw: { name: string; charset: string | undefined; bytes: Uint8Array }[] = [];
  let formCharset: string | undefined;
  try {
    for (let part = await reader.nextPart(); part; part = await reader.nextPart()) {
      if (part.name === "file") {
        if (file) throw sentTwice("file");
        filename = storableFilename(baseName(part.filename), { in: "body", pointer: "/file" });
        file = await storeFile(storage, {
          key: options.key,
          body: reader.partSource(),
          declaredType: part.contentType,
          filename: filename ?? undefined,
          maxBytes: options.maxBytes,
          tooLarge: options.tooLarge,
          lengthAtMost: declared,
          // RFC 7578 §4.4: a part without Content-Type is text/plain (when it is text at all).
          textByDefault: part.contentType === undefined,
        });
      } else if (part.name === CHARSET_FIELD) {
        if (formCharset !== undefined) throw sentTwice(CHARSET_FIELD);
        formCharset = (await reader.text(MAX_FIELD_BYTES)).trim();
      } else if (FIELDS.has(part.name)) {
        if (part.name === "title" && raw.some((field) => field.name === "title")) throw sentTwice("title");
        // Decoded at the end: a `_charset_` field may come after the fields it applies to.
        raw.push({ name: part.name, charset: reader.partCharset, bytes: await reader.bytes(MAX_FIELD_BYTES) });
      } else {
        throw invalid([{ in: "body", pointer: `/${part.name}`, message: "unexpected field" }]);
      }
    }
    if (!file) throw invalid([{ in: "body", pointer: "/file", message: "no file part" }]);
    for (const field of raw) {
      const value = decodeField(field.bytes, field.charset ?? formCharset ?? "utf-8");
      if (field.name === "title") fields.title = value;
      else fields.tags = [...(fields.tags ?? []), value];
    }
    return { file, filename, fields };
  } catch (error) {
    await reader.cancel();
    if (error instanceof FormDataError) throw malformed(error);
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
