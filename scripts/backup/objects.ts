// The object side of backups: listing, hashing as the bytes stream by, and copying between buckets
// server-side (CopyObject) or, where the S3 server cannot, streamed through this process. No object
// is ever held whole in memory.
import { createHash } from "node:crypto";
import { PassThrough, type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  CopyObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

export interface ListedObject {
  key: string;
  size: number;
  etag: string;
}

/** Every object of `bucket` under `prefix`, page by page (ListObjectsV2). */
export async function* listObjects(s3: S3Client, bucket: string, prefix?: string): AsyncGenerator<ListedObject> {
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        ...(prefix ? { Prefix: prefix } : {}),
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const item of page.Contents ?? []) {
      if (item.Key === undefined) continue;
      yield { key: item.Key, size: item.Size ?? 0, etag: item.ETag ?? "" };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** Whether `bucket` holds no object at all (one listing of one key). */
export async function bucketIsEmpty(s3: S3Client, bucket: string): Promise<boolean> {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1 }));
  return (page.KeyCount ?? page.Contents?.length ?? 0) === 0;
}

/** A pass-through that counts and hashes (SHA-256) the bytes going through it. */
export function digesting(): Transform & { digest(): { sha256: string; bytes: number } } {
  const hash = createHash("sha256");
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  let digest: string | undefined;
  return Object.assign(stream, {
    digest() {
      digest ??= hash.digest("hex");
      return { sha256: digest, bytes };
    },
  });
}

export interface ReadObject {
  sha256: string;
  size: number;
  contentType?: string;
  metadata?: Record<string, string>;
}

/**
 * Reads an object through a SHA-256 (streamed; `ifMatch` refuses a version other than the one listed).
 * @throws S3ServiceException from GetObject (`PreconditionFailed` when the object changed meanwhile).
 */
export async function hashObject(s3: S3Client, bucket: string, key: string, ifMatch?: string): Promise<ReadObject> {
  const answer = await s3.send(
    new GetObjectCommand({ Bucket: bucket, Key: key, ...(ifMatch ? { IfMatch: ifMatch } : {}) }),
  );
  const body = answer.Body as Readable | undefined;
  if (!body) throw new Error(`s3://${bucket}/${key} has no body`);
  const digest = digesting();
  await pipeline(body, digest, new PassThrough().resume());
  const { sha256, bytes } = digest.digest();
  return {
    sha256,
    size: bytes,
    ...(answer.ContentType ? { contentType: answer.ContentType } : {}),
    ...(answer.Metadata && Object.keys(answer.Metadata).length > 0 ? { metadata: answer.Metadata } : {}),
  };
}

/** Whether an object exists (HeadObject; a 404 is "no", anything else is thrown). */
export async function objectExists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) return false;
    throw error;
  }
}

/** Uploads a stream of unknown length (multipart above 5 MiB; one part in memory at a time). */
export async function uploadStream(
  s3: S3Client,
  target: { bucket: string; key: string; contentType?: string; metadata?: Record<string, string> },
  body: Readable,
): Promise<void> {
  await new Upload({
    client: s3,
    params: {
      Bucket: target.bucket,
      Key: target.key,
      Body: body,
      ...(target.contentType ? { ContentType: target.contentType } : {}),
      ...(target.metadata ? { Metadata: target.metadata } : {}),
    },
    queueSize: 1,
  }).done();
}

export interface CopyRequest {
  from: { bucket: string; key: string; ifMatch?: string };
  to: { bucket: string; key: string; contentType?: string; metadata?: Record<string, string> };
  /** The SHA-256 the bytes must have; checked on the streamed path, where this process sees them. */
  sha256: string;
}

/**
 * Copies objects: server-side with CopyObject while the server supports it (R2 and S3 do, within
 * one account; the first `NotImplemented` answer switches this copier to streaming), else streamed
 * through this process with the bytes hashed on the way.
 */
export function createCopier(s3: S3Client): { copy(request: CopyRequest): Promise<void>; readonly mode: string } {
  let serverSide = true;
  async function streamed({ from, to, sha256 }: CopyRequest): Promise<void> {
    const answer = await s3.send(
      new GetObjectCommand({ Bucket: from.bucket, Key: from.key, ...(from.ifMatch ? { IfMatch: from.ifMatch } : {}) }),
    );
    const body = answer.Body as Readable | undefined;
    if (!body) throw new Error(`s3://${from.bucket}/${from.key} has no body`);
    const digest = digesting();
    const uploading = uploadStream(s3, to, digest);
    await Promise.all([pipeline(body, digest), uploading]);
    if (digest.digest().sha256 !== sha256)
      throw new Error(`s3://${from.bucket}/${from.key} changed while it was copied (SHA-256 differs)`);
  }
  return {
    get mode() {
      return serverSide ? "server-side CopyObject" : "streamed";
    },
    async copy(request) {
      if (!serverSide) return streamed(request);
      const { from, to } = request;
      try {
        await s3.send(
          new CopyObjectCommand({
            Bucket: to.bucket,
            Key: to.key,
            CopySource: `${from.bucket}/${from.key.split("/").map(encodeURIComponent).join("/")}`,
            ...(from.ifMatch ? { CopySourceIfMatch: from.ifMatch } : {}),
            MetadataDirective: "REPLACE",
            ...(to.contentType ? { ContentType: to.contentType } : {}),
            ...(to.metadata ? { Metadata: to.metadata } : {}),
          }),
        );
      } catch (error) {
        const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
        if (!(error instanceof S3ServiceException) || (error.name !== "NotImplemented" && status !== 501)) throw error;
        serverSide = false;
        await streamed(request);
      }
    },
  };
}

/** Runs `work` over `items` with at most `concurrency` at once; the first failure rejects. */
export async function eachLimited<T>(
  items: AsyncIterable<T> | Iterable<T>,
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const running = new Set<Promise<void>>();
  let failure: unknown;
  for await (const item of items) {
    if (failure !== undefined) break;
    const task = work(item).then(
      () => {
        running.delete(task);
      },
      (error: unknown) => {
        running.delete(task);
        failure ??= error;
      },
    );
    running.add(task);
    if (running.size >= concurrency) await Promise.race(running);
  }
  await Promise.all(running);
  if (failure !== undefined) throw failure;
}
