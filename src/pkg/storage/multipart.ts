import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  S3ServiceException,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { StorageConfig } from "../config/config.ts";
import { DependencyError } from "../errors/api-error.ts";
import { callStorage, s3ClientFor, sendWithDeadline, withPayloadHash } from "./s3-request.ts";

/** A part as the store lists it (`ListParts`): number, length in bytes, ETag (quoted, as S3 sends it). */
export interface ListedPart {
  partNumber: number;
  size: number;
  etag: string;
}

/**
 * An S3 multipart upload driven one request at a time (S3 API: CreateMultipartUpload, UploadPart,
 * ListParts, CompleteMultipartUpload, AbortMultipartUpload), for uploads whose parts arrive in
 * separate requests. Every payload is signed (SigV4 payload hash, `s3ClientFor`). Failures throw
 * `DependencyError("storage")`, past `StorageConfig.timeoutMs` with a `DeadlineExceededError` cause,
 * except where a method says otherwise.
 */
export interface MultipartStorage {
  readonly bucket: string;
  /** Starts a multipart upload of `key`; resolves to the store's `UploadId`. */
  create(key: string, options: { contentType: string }): Promise<string>;
  /**
   * Stores part `partNumber` (1..10,000) of the upload; a part of the same number is replaced.
   * `sha256` (hex), when the caller has hashed the part already, is the payload hash SigV4 signs
   * (`x-amz-content-sha256`), so the part is not hashed twice; the store checks it against the
   * bytes it receives. Resolves to the part's ETag, as the store sends it (quoted). Throws
   * `NoSuchUploadError` when the store has no such upload.
   */
  uploadPart(target: MultipartTarget, partNumber: number, body: Uint8Array, sha256?: string): Promise<string>;
  /** The parts the store holds, by number; null when there is no such upload (S3's `NoSuchUpload`). */
  listParts(target: MultipartTarget): Promise<ListedPart[] | null>;
  /**
   * Joins the parts (ascending numbers, with the ETags `uploadPart` returned) into the object `key`.
   * Throws `NoSuchUploadError` when the store has no such upload (aborted, or completed already: the
   * object may exist), `InvalidPartError` when it refuses the list of parts.
   */
  complete(target: MultipartTarget, parts: { partNumber: number; etag: string }[]): Promise<void>;
  /** Discards the upload and its parts; an upload that is already gone (`NoSuchUpload`) is no error. */
  abort(target: MultipartTarget): Promise<void>;
}

/** Which multipart upload: the object's key and the store's `UploadId`. */
export interface MultipartTarget {
  key: string;
  uploadId: string;
}

function isNoSuchUpload(error: unknown): boolean {
  return (
    error instanceof S3ServiceException && (error.name === "NoSuchUpload" || error.$metadata.httpStatusCode === 404)
  );
}

/**
 * The store has no such multipart upload (S3 `NoSuchUpload`): it was aborted, or completed into its
 * object. Thrown by `uploadPart` and `complete`.
 */
export class NoSuchUploadError extends Error {
  constructor(cause: unknown) {
    super("the store has no such multipart upload", { cause });
    this.name = "NoSuchUploadError";
  }
}

/**
 * The store refused the part list of `complete` (S3 `InvalidPart`: a part is missing or its ETag
 * is not the one it holds, e.g. after two PUTs of one part raced; `InvalidPartOrder`; or
 * `EntityTooSmall`). The upload is still there.
 */
export class InvalidPartError extends Error {
  constructor(cause: unknown) {
    super("the store refused the list of parts", { cause });
    this.name = "InvalidPartError";
  }
}

const PART_REFUSALS = new Set(["InvalidPart", "InvalidPartOrder", "EntityTooSmall"]);

/** `error` as `NoSuchUploadError` or `InvalidPartError` where the store said so, else as it is. */
function refusal(error: unknown): unknown {
  const cause = error instanceof DependencyError ? error.cause : error;
  if (isNoSuchUpload(cause)) return new NoSuchUploadError(cause);
  if (cause instanceof S3ServiceException && PART_REFUSALS.has(cause.name)) return new InvalidPartError(cause);
  return error;
}

/**
 * Multipart uploads into one bucket of S3 or an S3-compatible store (R2: every part but the last
 * must have the same size, S3: at least 5 MiB). Creating it opens nothing.
 */
export function createS3Multipart(config: StorageConfig, bucket = config.bucket): MultipartStorage {
  const client = s3ClientFor(config);
  const Bucket = bucket;
  const call = <T>(request: Parameters<typeof callStorage<T>>[1]) => callStorage(config.timeoutMs, request);

  return {
    bucket,
    async create(key, options) {
      const { UploadId } = await call((http) =>
        client.send(new CreateMultipartUploadCommand({ Bucket, Key: key, ContentType: options.contentType }), http),
      );
      if (!UploadId) throw new DependencyError("storage", new Error("CreateMultipartUpload returned no UploadId"));
      return UploadId;
    },

    async uploadPart(target, partNumber, body, sha256) {
      const command = new UploadPartCommand({
        Bucket,
        Key: target.key,
        UploadId: target.uploadId,
        PartNumber: partNumber,
        Body: body,
        ContentLength: body.length,
      });
      if (sha256 !== undefined) withPayloadHash(command, sha256);
      const { ETag } = await call((http) => client.send(command, http)).catch((error: unknown) => {
        throw refusal(error);
      });
      if (!ETag) throw new DependencyError("storage", new Error("UploadPart returned no ETag"));
      return ETag;
    },

    async listParts(target) {
      const parts: ListedPart[] = [];
      let marker: string | undefined;
      try {
        for (;;) {
          const page = await sendWithDeadline(config.timeoutMs, (http) =>
            client.send(
              new ListPartsCommand({
                Bucket,
                Key: target.key,
                UploadId: target.uploadId,
                ...(marker ? { PartNumberMarker: marker } : {}),
              }),
              http,
            ),
          );
          for (const part of page.Parts ?? []) {
            parts.push({ partNumber: part.PartNumber ?? 0, size: part.Size ?? 0, etag: part.ETag ?? "" });
          }
          if (!page.IsTruncated || !page.NextPartNumberMarker) return parts;
          marker = page.NextPartNumberMarker;
        }
      } catch (error) {
        if (isNoSuchUpload(error)) return null;
        throw error instanceof DependencyError ? error : new DependencyError("storage", error);
      }
    },

    async complete(target, parts) {
      await call((http) =>
        client.send(
          new CompleteMultipartUploadCommand({
            Bucket,
            Key: target.key,
            UploadId: target.uploadId,
            MultipartUpload: { Parts: parts.map((part) => ({ PartNumber: part.partNumber, ETag: part.etag })) },
          }),
          http,
        ),
      ).catch((error: unknown) => {
        throw refusal(error);
      });
    },

    async abort(target) {
      try {
        await sendWithDeadline(config.timeoutMs, (http) =>
          client.send(new AbortMultipartUploadCommand({ Bucket, Key: target.key, UploadId: target.uploadId }), http),
        );
      } catch (error) {
        if (isNoSuchUpload(error)) return;
        throw error instanceof DependencyError ? error : new DependencyError("storage", error);
      }
    },
  };
}
