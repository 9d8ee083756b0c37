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
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { StorageConfig } from "../config/config.ts";
import { DependencyError } from "../errors/api-error.ts";

/**
 * Size of the parts of a multipart upload (S3 wants at least 5 MiB but for the last). An upload
 * holds one part in memory at a time, whatever the file's size.
 */
export const PART_BYTES = 8 * 1024 * 1024;

export interface StoredObject {
  key: string;
  size: number;
  contentType: string | undefined;
  etag: string | undefined;
  metadata: Record<string, string>;
}

export interface ObjectBody extends StoredObject {
  body: ReadableStream<Uint8Array>;
  /** Set for a ranged read: the bytes returned and the full size. */
  range?: { start: number; end: number; total: number };
}

export interface PutOptions {
  /** Required: S3 cannot sign a stream of unknown length (`upload` takes any stream). */
  contentLength: number;
  contentType: string;
  metadata?: Record<string, string>;
}

/** An inclusive byte range; an open end reads to the end of the object. */
export interface ByteRange {
  start: number;
  end?: number | undefined;
}

/** A range the object cannot satisfy (HTTP 416). */
export class RangeNotSatisfiableError extends Error {
  readonly size: number;
  constructor(size: number) {
    super("range not satisfiable");
    this.name = "RangeNotSatisfiableError";
    this.size = size;
  }
}

/** Object storage as the application sees it. Unreachable storage throws `DependencyError("storage")`. */
export interface ObjectStorage {
  readonly bucket: string;
  put(key: string, body: ReadableStream<Uint8Array> | Uint8Array | string, options: PutOptions): Promise<void>;
  /**
   * Writes a stream of any length: one request when it fits in one part, else a multipart upload
   * (aborted if anything fails, so no parts linger). Returns the bytes written.
   */
  upload(key: string, body: ReadableStream<Uint8Array>, options: { contentType: string }): Promise<{ size: number }>;
  head(key: string): Promise<StoredObject | null>;
  get(key: string, options?: { range?: ByteRange }): Promise<ObjectBody | null>;
  delete(key: string): Promise<void>;
  deleteMany(keys: string[]): Promise<void>;
  /** Checks that the bucket is reachable with our credentials. */
  ping(): Promise<void>;
}

// An S3Client holds configuration only (each send is its own fetch), so one per configuration
// is reused across requests of the isolate.
const clients = new WeakMap<StorageConfig, S3Client>();

function clientFor(config: StorageConfig): S3Client {
  let client = clients.get(config);
  if (!client) {
    client = new S3Client({
      region: config.region,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      forcePathStyle: config.forcePathStyle,
      credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
      // R2 and other S3-compatible servers reject the newer default checksum headers.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      maxAttempts: 2,
    });
    clients.set(config, client);
  }
  return client;
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
 * Reads a stream into parts of exactly `size` bytes (the last may be shorter), holding one part
 * at a time.
 */
async function* parts(body: ReadableStream<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  let part = new Uint8Array(size);
  let filled = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      let offset = 0;
      while (offset < value.length) {
        const take = Math.min(size - filled, value.length - offset);
        part.set(value.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === size) {
          yield part;
          part = new Uint8Array(size);
          filled = 0;
        }
      }
    }
    if (filled > 0) yield part.subarray(0, filled);
  } finally {
    reader.releaseLock();
  }
}

/** Storage for one bucket (documents, or thumbnails). */
export function createS3Storage(config: StorageConfig, bucket = config.bucket): ObjectStorage {
  const client = clientFor(config);
  const Bucket = bucket;

  async function call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw new DependencyError("storage", error);
    }
  }

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

  async function multipart(key: string, first: Uint8Array, rest: AsyncGenerator<Uint8Array>, contentType: string) {
    const { UploadId } = await call(() =>
      client.send(new CreateMultipartUploadCommand({ Bucket, Key: key, ContentType: contentType })),
    );
    if (!UploadId) throw new DependencyError("storage", new Error("no UploadId"));
    const completed: { ETag: string; PartNumber: number }[] = [];
    let size = 0;
    try {
      let PartNumber = 1;
      for (let part: Uint8Array | undefined = first; part; ) {
        const body = part;
        const { ETag } = await call(() =>
          client.send(
            new UploadPartCommand({ Bucket, Key: key, UploadId, PartNumber, Body: body, ContentLength: body.length }),
          ),
        );
        completed.push({ ETag: ETag ?? "", PartNumber });
        size += body.length;
        PartNumber += 1;
        const next = await rest.next();
        part = next.done ? undefined : next.value;
      }
      await call(() =>
        client.send(
          new CompleteMultipartUploadCommand({ Bucket, Key: key, UploadId, MultipartUpload: { Parts: completed } }),
        ),
      );
      return { size };
    } catch (error) {
      await client.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId })).catch(() => {});
      throw error;
    }
  }

  return {
    bucket,
    async put(key, body, options) {
      await call(() =>
        client.send(
          new PutObjectCommand({
            Bucket,
            Key: key,
            Body: body,
            ContentLength: options.contentLength,
            ContentType: options.contentType,
            Metadata: options.metadata,
          }),
        ),
      );
    },

    async upload(key, body, options) {
      const chunks = parts(body, PART_BYTES);
      const first = await chunks.next();
      if (first.done) {
        await call(() =>
          client.send(
            new PutObjectCommand({
              Bucket,
              Key: key,
              Body: new Uint8Array(0),
              ContentLength: 0,
              ContentType: options.contentType,
            }),
          ),
        );
        return { size: 0 };
      }
      if (first.value.length < PART_BYTES) {
        // Everything fit in one part: one request.
        const bytes = first.value;
        await call(() =>
          client.send(
            new PutObjectCommand({
              Bucket,
              Key: key,
              Body: bytes,
              ContentLength: bytes.length,
              ContentType: options.contentType,
            }),
          ),
        );
        return { size: bytes.length };
      }
      return multipart(key, first.value, chunks, options.contentType);
    },

    async head(key) {
      try {
        return describe(key, await client.send(new HeadObjectCommand({ Bucket, Key: key })));
      } catch (error) {
        if (isNotFound(error)) return null;
        throw new DependencyError("storage", error);
      }
    },

    async get(key, options = {}) {
      const { range } = options;
      try {
        const output = await client.send(
          new GetObjectCommand({
            Bucket,
            Key: key,
            ...(range ? { Range: `bytes=${range.start}-${range.end ?? ""}` } : {}),
          }),
        );
        const body = output.Body?.transformToWebStream() as ReadableStream<Uint8Array> | undefined;
        if (!body) return null;
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
        throw new DependencyError("storage", error);
      }
    },

    async delete(key) {
      await call(() => client.send(new DeleteObjectCommand({ Bucket, Key: key })));
    },

    async deleteMany(keys) {
      for (let i = 0; i < keys.length; i += 1000) {
        const batch = keys.slice(i, i + 1000).map((Key) => ({ Key }));
        if (batch.length > 0)
          await call(() => client.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: batch } })));
      }
    },

    async ping() {
      await call(() => client.send(new HeadBucketCommand({ Bucket })));
    },
  };
}
