import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3ServiceException,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { StorageConfig } from "../config/config.ts";
import { DependencyError } from "../errors/api-error.ts";
import { DeadlineExceededError } from "../errors/deadline.ts";
import { callStorage, type S3Request, s3ClientFor, sendWithDeadline } from "./s3-request.ts";

/**
 * Size of the parts of a multipart upload in bytes (8 MiB; S3 wants at least 5 MiB for every part
 * but the last, at most 10,000 parts: S3 API, "Amazon S3 multipart upload limits"). An upload holds
 * one part in memory at a time, whatever the file's size, well inside the 128 MB of an isolate.
 */
export const PART_BYTES = 8 * 1024 * 1024;

/** An object's description, from `HeadObject` or `GetObject`'s response headers. */
export interface StoredObject {
  key: string;
  /** The whole object's length in bytes (for a ranged read too). */
  size: number;
  contentType: string | undefined;
  /** The store's ETag, quoted as S3 sends it (`"<hex>"`; a multipart upload's ends in `-<parts>`). */
  etag: string | undefined;
  /** User metadata (`x-amz-meta-*`), names lowercased. */
  metadata: Record<string, string>;
}

/** An object being read: its description and its body, to be read once or cancelled. */
export interface ObjectBody extends StoredObject {
  body: ReadableStream<Uint8Array>;
  /**
   * Set for a ranged read: the bytes returned, `start` and `end` inclusive (zero-based offsets, as
   * in `Content-Range`, RFC 9110 §14.4), and the full size `total`.
   */
  range?: { start: number; end: number; total: number };
}

/** Options of `ObjectStorage.put`. */
export interface PutOptions {
  /** Required: S3 cannot sign a stream of unknown length (`upload` takes any stream). */
  contentLength: number;
  contentType: string;
  metadata?: Record<string, string>;
}

/**
 * An inclusive byte range in zero-based offsets (`bytes=start-end`, RFC 9110 §14.1.2); an open end
 * reads to the end of the object.
 */
export interface ByteRange {
  start: number;
  end?: number | undefined;
}

/**
 * A range the object cannot satisfy (its start at or past the end: HTTP 416, RFC 9110 §15.5.17);
 * `size` is the object's length in bytes, for the `Content-Range: bytes * /<size>` the answer needs.
 */
export class RangeNotSatisfiableError extends Error {
  readonly size: number;
  constructor(size: number) {
    super("range not satisfiable");
    this.name = "RangeNotSatisfiableError";
    this.size = size;
  }
}

/**
 * Object storage as the application sees it. Unreachable storage throws `DependencyError("storage")`,
 * and so does a request that has not answered (response headers) within `StorageConfig.timeoutMs`,
 * its cause then a `DeadlineExceededError`. A body being read that delivers nothing for that long
 * errors with the same `DependencyError`.
 */
export interface ObjectStorage {
  /** The bucket's name. */
  readonly bucket: string;
  /**
   * Writes the object in one `PutObject` request, replacing any at `key`. A stream must deliver
   * exactly `options.contentLength` bytes. Throws `DependencyError("storage")` when it fails.
   */
  put(key: string, body: ReadableStream<Uint8Array> | Uint8Array | string, options: PutOptions): Promise<void>;
  /**
   * Writes content of any length given as parts (from `partsOf`: `PART_BYTES` each but the last,
   * each valid until the next is asked for): one request when there is one part, else a multipart
   * upload, aborted if anything fails so no parts linger. Returns the bytes written.
   */
  upload(key: string, parts: AsyncIterator<Uint8Array>, options: { contentType: string }): Promise<{ size: number }>;
  /** The object's description (`HeadObject`), or null when there is no object at `key`. */
  head(key: string): Promise<StoredObject | null>;
  /**
   * The object, or a range of it, with its body as a stream (never buffered). Null when there is
   * no object at `key` (S3's 404 `NoSuchKey`: a missing object is an answer, not a failure).
   * Throws `RangeNotSatisfiableError` when `range` starts at or past the end (S3's 416
   * `InvalidRange`), and `DependencyError("storage")` otherwise.
   */
  get(key: string, options?: { range?: ByteRange }): Promise<ObjectBody | null>;
  /** Removes the object; no error when there was none (S3's `DeleteObject` answers 204 either way). */
  delete(key: string): Promise<void>;
  /**
   * Removes the objects, 1,000 keys per `DeleteObjects` request (the API's limit). Keys that do not
   * exist are no error; a failed request throws `DependencyError("storage")` and stops there. The
   * per-key `Errors` a successful (200) answer may list are not inspected.
   */
  deleteMany(keys: string[]): Promise<void>;
  /** Checks that the bucket is reachable with our credentials (`HeadBucket`); throws `DependencyError("storage")`. */
  ping(): Promise<void>;
}

function isNotFound(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.$metadata.httpStatusCode === 404 || error.name === "NotFound" || error.name === "NoSuchKey")
  );
}

function isRangeError(error: unknown): boolean {
  return (
    error instanceof S3ServiceException && (error.$metadata.httpStatusCode === 416 || error.name === "InvalidRange")
  );
}

/**
 * Whether `error` is a storage request abandoned at its deadline (`StorageConfig.timeoutMs`). Such
 * a write is not known to have failed: a server that had the whole request may still carry it
 * out later, even after a delete of the same key.
 */
export function isStorageDeadline(error: unknown): boolean {
  return (
    error instanceof DependencyError && error.dependency === "storage" && error.cause instanceof DeadlineExceededError
  );
}

/** The content passed the `maxBytes` given to `partsOf`. */
export class ContentTooLargeError extends Error {
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super(`the content exceeds ${maxBytes} bytes`);
    this.name = "ContentTooLargeError";
    this.maxBytes = maxBytes;
  }
}

/**
 * Cuts what `reader` delivers (after `head`, bytes already read from it) into parts of exactly
 * `size` bytes, the last shorter. One buffer serves every part: each yielded part is only valid
 * until the next is asked for, so memory stays at one part whatever the length, and the garbage
 * collector has nothing to catch up on. Past `maxBytes` it stops reading and throws
 * `ContentTooLargeError`. Bytes are handled once per request chunk with no stream stages between,
 * which matters when chunks are small.
 */
export async function* partsOf(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  options: { size?: number; head?: Uint8Array; maxBytes?: number } = {},
): AsyncGenerator<Uint8Array> {
  const size = options.size ?? PART_BYTES;
  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  const part = new Uint8Array(size);
  let filled = 0;
  let total = 0;
  let chunk: Uint8Array | undefined = options.head;
  for (;;) {
    if (!chunk) {
      const next = await reader.read();
      if (next.done) break;
      chunk = next.value;
    }
    total += chunk.length;
    if (total > maxBytes) throw new ContentTooLargeError(maxBytes);
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(size - filled, chunk.length - offset);
      part.set(chunk.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (filled === size) {
        yield part;
        filled = 0;
      }
    }
    chunk = undefined;
  }
  if (filled > 0) yield part.subarray(0, filled);
}

/**
 * `body` as a stream that errors with `DependencyError("storage", DeadlineExceededError)` when a
 * read waits longer than `timeoutMs` for the next chunk (a stalled server), calling `onStall` to
 * abort the request behind it. Only our own reads are timed: a slow consumer never trips it.
 */
function watchProgress(
  body: ReadableStream<Uint8Array>,
  timeoutMs: number,
  onStall: (error: DeadlineExceededError) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const stalled = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new DeadlineExceededError("storage", timeoutMs, "body read")), timeoutMs);
        });
        try {
          const next = await Promise.race([reader.read(), stalled]);
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (error) {
          if (error instanceof DeadlineExceededError) {
            onStall(error);
            reader.cancel(error).catch(() => {});
          }
          controller.error(new DependencyError("storage", error));
        } finally {
          if (timer !== undefined) clearTimeout(timer);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Storage for one bucket (documents, or thumbnails) of S3 or an S3-compatible store (R2), through
 * `@aws-sdk/client-s3` with up to 2 attempts per request, payloads signed (SigV4). Creating it opens
 * nothing: each request is its own fetch.
 */
export function createS3Storage(config: StorageConfig, bucket = config.bucket): ObjectStorage {
  const client = s3ClientFor(config);
  const Bucket = bucket;

  const send = <T>(request: S3Request<T>, controller?: AbortController) =>
    sendWithDeadline(config.timeoutMs, request, controller);
  const call = <T>(request: S3Request<T>) => callStorage(config.timeoutMs, request);

  const describe = (
    key: string,
    output: {
      ContentLength?: number | undefined;
      ContentType?: string | undefined;
      ETag?: string | undefined;
      Metadata?: Record<string, string> | undefined;
    },
  ): StoredObject => ({
    key,
    size: output.ContentLength ?? 0,
    contentType: output.ContentType,
    etag: output.ETag,
    metadata: output.Metadata ?? {},
  });

  async function multipart(key: string, first: Uint8Array, rest: AsyncIterator<Uint8Array>, contentType: string) {
    const { UploadId } = await call((http) =>
      client.send(new CreateMultipartUploadCommand({ Bucket, Key: key, ContentType: contentType }), http),
    );
    if (!UploadId) throw new DependencyError("storage", new Error("no UploadId"));
    const completed: { ETag: string; PartNumber: number }[] = [];
    let size = 0;
    try {
      let PartNumber = 1;
      for (let part: Uint8Array | undefined = first; part; ) {
        const body = part;
        const { ETag } = await call((http) =>
          client.send(
            new UploadPartCommand({ Bucket, Key: key, UploadId, PartNumber, Body: body, ContentLength: body.length }),
            http,
          ),
        );
        completed.push({ ETag: ETag ?? "", PartNumber });
        size += body.length;
        PartNumber += 1;
        const next = await rest.next();
        part = next.done ? undefined : next.value;
      }
      await call((http) =>
        client.send(
          new CompleteMultipartUploadCommand({ Bucket, Key: key, UploadId, MultipartUpload: { Parts: completed } }),
          http,
        ),
      );
      return { size };
    } catch (error) {
      await call((http) => client.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId }), http)).catch(
        () => {},
      );
      throw error;
    }
  }

  return {
    bucket,
    async put(key, body, options) {
      await call((http) =>
        client.send(
          new PutObjectCommand({
            Bucket,
            Key: key,
            Body: body,
            ContentLength: options.contentLength,
            ContentType: options.contentType,
            Metadata: options.metadata,
          }),
          http,
        ),
      );
    },

    async upload(key, chunks, options) {
      const first = await chunks.next();
      if (first.done) {
        await call((http) =>
          client.send(
            new PutObjectCommand({
              Bucket,
              Key: key,
              Body: new Uint8Array(0),
              ContentLength: 0,
              ContentType: options.contentType,
            }),
            http,
          ),
        );
        return { size: 0 };
      }
      if (first.value.length < PART_BYTES) {
        // Everything fit in one part: one request. The parts run to their end first, so whatever
        // their producer does after the last part (closing a hash) happens.
        const bytes = first.value;
        if (!(await chunks.next()).done) throw new Error("a part shorter than PART_BYTES must be the last");
        await call((http) =>
          client.send(
            new PutObjectCommand({
              Bucket,
              Key: key,
              Body: bytes,
              ContentLength: bytes.length,
              ContentType: options.contentType,
            }),
            http,
          ),
        );
        return { size: bytes.length };
      }
      return multipart(key, first.value, chunks, options.contentType);
    },

    async head(key) {
      try {
        return describe(key, await send((http) => client.send(new HeadObjectCommand({ Bucket, Key: key }), http)));
      } catch (error) {
        if (isNotFound(error)) return null;
        if (error instanceof DependencyError) throw error;
        throw new DependencyError("storage", error);
      }
    },

    async get(key, options = {}) {
      const { range } = options;
      // The same controller aborts the response's body when it stalls.
      const controller = new AbortController();
      try {
        const output = await send(
          (http) =>
            client.send(
              new GetObjectCommand({
                Bucket,
                Key: key,
                ...(range ? { Range: `bytes=${range.start}-${range.end ?? ""}` } : {}),
              }),
              http,
            ),
          controller,
        );
        const stream = output.Body?.transformToWebStream() as ReadableStream<Uint8Array> | undefined;
        if (!stream) return null;
        const body = watchProgress(stream, config.timeoutMs, (error) => controller.abort(error));
        const object: ObjectBody = { ...describe(key, output), body };
        const contentRange = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(output.ContentRange ?? "");
        if (range && contentRange) {
          object.range = {
            start: Number(contentRange[1]),
            end: Number(contentRange[2]),
            total: Number(contentRange[3]),
          };
          object.size = object.range.total;
        }
        return object;
      } catch (error) {
        if (isNotFound(error)) return null;
        if (isRangeError(error)) {
          const head = await this.head(key);
          throw new RangeNotSatisfiableError(head?.size ?? 0);
        }
        if (error instanceof DependencyError) throw error;
        throw new DependencyError("storage", error);
      }
    },

    async delete(key) {
      await call((http) => client.send(new DeleteObjectCommand({ Bucket, Key: key }), http));
    },

    async deleteMany(keys) {
      for (let i = 0; i < keys.length; i += 1000) {
        const batch = keys.slice(i, i + 1000).map((Key) => ({ Key }));
        if (batch.length > 0)
          await call((http) => client.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: batch } }), http));
      }
    },

    async ping() {
      await call((http) => client.send(new HeadBucketCommand({ Bucket }), http));
    },
  };
}
