import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import type { StorageConfig } from "../config/config.ts";
import { DependencyError } from "../errors/api-error.ts";

export interface StoredObject {
  key: string;
  size: number;
  contentType: string | undefined;
  etag: string | undefined;
  metadata: Record<string, string>;
}

export interface ObjectBody extends StoredObject {
  body: ReadableStream<Uint8Array>;
}

export interface PutOptions {
  /** Required: S3 cannot sign a stream of unknown length (use multipart for those). */
  contentLength: number;
  contentType: string;
  metadata?: Record<string, string>;
}

/** Object storage as the application sees it. Unreachable storage throws `DependencyError("storage")`. */
export interface ObjectStorage {
  put(key: string, body: ReadableStream<Uint8Array> | Uint8Array | string, options: PutOptions): Promise<void>;
  head(key: string): Promise<StoredObject | null>;
  get(key: string): Promise<ObjectBody | null>;
  delete(key: string): Promise<void>;
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

export function createS3Storage(config: StorageConfig): ObjectStorage {
  const client = clientFor(config);
  const Bucket = config.bucket;

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

  return {
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

    async head(key) {
      try {
        return describe(key, await client.send(new HeadObjectCommand({ Bucket, Key: key })));
      } catch (error) {
        if (isNotFound(error)) return null;
        throw new DependencyError("storage", error);
      }
    },

    async get(key) {
      try {
        const output = await client.send(new GetObjectCommand({ Bucket, Key: key }));
        const body = output.Body?.transformToWebStream() as ReadableStream<Uint8Array> | undefined;
        if (!body) return null;
        return { ...describe(key, output), body };
      } catch (error) {
        if (isNotFound(error)) return null;
        throw new DependencyError("storage", error);
      }
    },

    async delete(key) {
      await call(() => client.send(new DeleteObjectCommand({ Bucket, Key: key })));
    },

    async ping() {
      await call(() => client.send(new HeadBucketCommand({ Bucket })));
    },
  };
}
