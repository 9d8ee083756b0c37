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
import { toHex } from "../crypto/digest.ts";
import { DependencyError } from "../errors/api-error.ts";
import { DeadlineExceededError } from "../errors/deadline.ts";
import { callStorage, type S3Request, s3ClientFor, sendWithDeadline, withPayloadHash } from "./s3-request.ts";

/**
 * Size of the parts of a multipart upload in bytes: 5 MiB, the least S3 and R2 accept for every
 * part but the last (S3 API, "Amazon S3 multipart upload limits": 5 MiB to 5 GiB, at most 10,000
 * parts, so objects up to 50 GiB). An upload holds two parts (one being sent, the next being read)
 * whatever the file's size: workerd's RSS grew 18 MiB for one 100 MB or 300 MB upload and
 * 23.7 MiB per upload with four at once. 8 MiB parts needed 32 MiB per upload there, for the same
 * speed on 32 MiB and 10-20 % more on 300 MB (measured 2026-11-30 in a probe worker against
 * s3rver; README "Benchmarks").
 */
export const PART_BYTES = 5 * 1024 * 1024;

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
   * each valid until the one after the next is asked for): one request when there is one part,
   * else a multipart upload in which part N+1 is produced while part N is sent, aborted if
   * anything fails (after the part in flight has settled) so no parts linger. Returns the bytes
   * written.
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
 * Bytes read into buffers the caller owns: a request body through a BYOB reader (the runtime
 * writes into the buffer, no chunk is allocated or copied), or any other source copied chunk by
 * chunk (`chunkSource`).
 */
export interface ByteSource {
  /**
   * Reads into `view` until it holds at least `minBytes` bytes (at most `view.length`), or the
   * source ends. Resolves to the bytes read, at the start of `view`'s memory, which a BYOB read
   * moves to a new `ArrayBuffer` (the old one is detached): use the result, not `view`. Fewer than
   * `minBytes` means the source has ended. Rejects with the source's error.
   */
  readInto(view: Uint8Array, minBytes: number): Promise<Uint8Array>;
  /** Stops reading; the source is released. Never rejects. */
  cancel(reason?: unknown): Promise<void>;
}

/**
 * A `ByteSource` over chunks from `next` (null at the end), copied into the caller's views; a
 * chunk longer than the room left is kept for the next read.
 */
export function chunkSource(next: () => Promise<Uint8Array | null>, cancel: () => Promise<void>): ByteSource {
  let rest: Uint8Array | null = null;
  let ended = false;
  return {
    async readInto(view, minBytes) {
      let filled = 0;
      while (filled < minBytes && filled < view.length) {
        if (!rest) {
          if (ended) break;
          rest = await next();
          if (!rest) {
            ended = true;
            break;
          }
        }
        const take = Math.min(rest.length, view.length - filled);
        view.set(rest.subarray(0, take), filled);
        filled += take;
        rest = take < rest.length ? rest.subarray(take) : null;
      }
      return view.subarray(0, filled);
    },
    cancel: () => cancel().catch(() => {}),
  };
}

/** A default reader as a `ByteSource` (chunks copied); read errors go through `onError`. */
export function readerSource(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  onError: (error: unknown) => unknown = (error) => error,
): ByteSource {
  return chunkSource(
    async () => {
      try {
        const next = await reader.read();
        return next.done ? null : next.value;
      } catch (error) {
        throw onError(error);
      }
    },
    () => reader.cancel(),
  );
}

/** workerd's BYOB reader: `readAtLeast` (non-standard) fills a view in one call. */
type ByobReader = ReadableStreamBYOBReader & {
  readAtLeast?: (minBytes: number, view: Uint8Array) => Promise<ReadableStreamReadResult<Uint8Array>>;
};

/**
 * `stream` as a `ByteSource`: through a BYOB reader when it is a byte stream (a request body in
 * workerd: `readAtLeast` fills a whole part per call), else chunk by chunk from a default reader.
 * Read errors go through `onError` (e.g. to tell a broken request body apart).
 */
export function byteSource(
  stream: ReadableStream<Uint8Array>,
  onError: (error: unknown) => unknown = (error) => error,
): ByteSource {
  let byob: ByobReader | undefined;
  try {
    byob = stream.getReader({ mode: "byob" }) as ByobReader;
  } catch {
    // Not a byte stream (e.g. one built in JavaScript): chunks are copied.
  }
  if (!byob) return readerSource(stream.getReader(), onError);
  const reader = byob;
  let ended = false;
  return {
    async readInto(view, minBytes) {
      // Taken before the first read detaches `view`.
      let buffer = view.buffer as ArrayBuffer;
      const start = view.byteOffset;
      const length = view.length;
      let filled = 0;
      const want = Math.min(minBytes, length);
      try {
        while (!ended && filled < want) {
          const target = new Uint8Array(buffer, start + filled, length - filled);
          const next = reader.readAtLeast ? await reader.readAtLeast(want - filled, target) : await reader.read(target);
          // A read transfers the buffer: what was filled lives in the returned view's buffer.
          if (next.value) buffer = next.value.buffer as ArrayBuffer;
          if (next.done) ended = true;
          filled += next.value?.byteLength ?? 0;
        }
      } catch (error) {
        throw onError(error);
      }
      return new Uint8Array(buffer, start, filled);
    },
    cancel: (reason) => reader.cancel(reason).catch(() => {}),
  };
}

/** The first part buffer's size at first (bytes): a small body never costs a whole part (`partsOf`). */
export const FIRST_READ_BYTES = 64 * 1024;

/**
 * Cuts what `source` delivers (after `head`, bytes already read from it) into parts of exactly
 * `size` bytes, the last shorter. Two buffers take turns: a yielded part stays valid while the
 * next one is read (so that it can be uploaded meanwhile) and until the one after it is asked
 * for. Memory stays at two parts whatever the length; the runtime reads straight into them.
 * The first buffer starts at `FIRST_READ_BYTES` (a 16 KiB body allocates 64 KiB, not `size`) and,
 * once that fills, is replaced by one of `size` (one copy of 64 KiB; growing in steps left every
 * step's buffer to the garbage collector, 5 MiB more per upload at its peak); the second is only
 * allocated when a second part comes. Stops reading once `maxBytes` is passed (at most one byte
 * more) and throws `ContentTooLargeError`.
 */
export async function* partsOf(
  source: ByteSource,
  options: { size?: number; head?: Uint8Array; maxBytes?: number } = {},
): AsyncGenerator<Uint8Array> {
  const size = options.size ?? PART_BYTES;
  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  const buffers: Uint8Array[] = [];
  let total = 0;
  let head = options.head;
  for (let turn = 0; ; turn = 1 - turn) {
    // The first buffer starts small; the second comes with a second part, so at its full size.
    const initial = turn === 0 ? Math.max(FIRST_READ_BYTES, head?.length ?? 0) : size;
    let part = buffers[turn] ?? new Uint8Array(Math.min(size, initial));
    let filled = 0;
    if (head && head.length > 0) {
      filled = Math.min(head.length, size);
      part.set(head.subarray(0, filled));
      head = head.length > filled ? head.subarray(filled) : undefined;
    }
    // One byte past the limit is enough to know it is passed.
    const room = Math.min(size, filled + maxBytes + 1 - total);
    while (filled < room) {
      if (filled === part.length) {
        // A first buffer that filled up: a whole part now, its bytes copied once.
        const grown = new Uint8Array(size);
        grown.set(part);
        part = grown;
      }
      // Taken before the read: a BYOB read detaches `part`'s buffer (the bytes move to `read.buffer`).
      const length = part.length;
      const end = Math.min(room, length);
      const read = await source.readInto(part.subarray(filled, end), end - filled);
      part = new Uint8Array(read.buffer, 0, length);
      filled += read.length;
      if (filled < end) break;
    }
    buffers[turn] = part;
    total += filled;
    if (total > maxBytes) throw new ContentTooLargeError(maxBytes);
    if (filled === size) {
      yield part;
      continue;
    }
    // Short of a whole part (or a whole one that met the end): the source has ended.
    if (filled > 0) yield part.subarray(0, filled);
    return;
  }
}

/** The hex SHA-256 of `part` (WebCrypto): its SigV4 payload hash. */
async function partHash(part: Uint8Array): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", part));
}

/**
 * Both results once both promises have settled; if either rejects, the first rejection (in time)
 * is thrown, but only after the other has settled too, so that nothing is still running (a part
 * upload in flight) when the caller cleans up.
 */
async function bothSettled<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  let failure: { error: unknown } | undefined;
  const note = (error: unknown): never => {
    failure ??= { error };
    throw error;
  };
  const [first, second] = await Promise.allSettled([a.catch(note), b.catch(note)]);
  if (failure) throw failure.error;
  return [(first as PromiseFulfilledResult<A>).value, (second as PromiseFulfilledResult<B>).value];
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
    // Created while the second part is read: the first part is sent as soon as the id is known.
    const creating = call((http) =>
      client.send(new CreateMultipartUploadCommand({ Bucket, Key: key, ContentType: contentType }), http),
    ).then(({ UploadId }) => {
      if (!UploadId) throw new DependencyError("storage", new Error("no UploadId"));
      return UploadId;
    });
    const completed: { ETag: string; PartNumber: number }[] = [];
    let size = 0;
    try {
      let PartNumber = 1;
      // Each part's payload hash is taken as soon as the part is read, while the part before it
      // is still being sent (for the first, while the upload is created), not on the send's path.
      let hashing = partHash(first);
      for (let part: Uint8Array | undefined = first; part; ) {
        const body: Uint8Array = part;
        const number = PartNumber++;
        const sending: Promise<{ ETag?: string | undefined }> = Promise.all([creating, hashing]).then(
          ([UploadId, payloadHash]) =>
            call((http) =>
              client.send(
                withPayloadHash(
                  new UploadPartCommand({
                    Bucket,
                    Key: key,
                    UploadId,
                    PartNumber: number,
                    Body: body,
                    ContentLength: body.length,
                  }),
                  payloadHash,
                ),
                http,
              ),
            ),
        );
        // The next part is read (and hashed) while this one is sent (a part from `partsOf` stays valid that long).
        const reading = rest.next().then((next) => {
          if (!next.done) hashing = partHash(next.value);
          return next;
        });
        const [{ ETag }, next]: [{ ETag?: string | undefined }, IteratorResult<Uint8Array>] = await bothSettled(
          sending,
          reading,
        );
        completed.push({ ETag: ETag ?? "", PartNumber: number });
        size += body.length;
        part = next.done ? undefined : next.value;
      }
      const UploadId = await creating;
      await call((http) =>
        client.send(
          new CompleteMultipartUploadCommand({ Bucket, Key: key, UploadId, MultipartUpload: { Parts: completed } }),
          http,
        ),
      );
      return { size };
    } catch (error) {
      // No id: the upload was never created, there is nothing to abort.
      const UploadId = await creating.catch(() => undefined);
      if (UploadId) {
        await call((http) => client.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId }), http)).catch(
          () => {},
        );
      }
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
