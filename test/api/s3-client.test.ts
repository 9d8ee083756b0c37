import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { createS3Storage } from "../../src/pkg/storage/storage.ts";
import { testEnv } from "../helpers.ts";

// The production S3 client, inside workerd, against the stack's S3 server.
const config = loadApiConfig(testEnv).storage;
const client = new S3Client({
  region: config.region,
  endpoint: config.endpoint,
  forcePathStyle: true,
  credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
  requestChecksumCalculation: "WHEN_REQUIRED",
  responseChecksumValidation: "WHEN_REQUIRED",
});
const Bucket = config.bucket;
const prefix = `s3-client-test/${crypto.randomUUID()}/`;

const streamOf = (text: string) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      controller.close();
    },
  });

describe("@aws-sdk/client-s3 in workerd", () => {
  it("runs where there is no DOMParser, as in a deployed Worker", () => {
    expect("DOMParser" in globalThis).toBe(false);
  });

  it("parses XML responses (listing with pagination)", async () => {
    for (const name of ["a", "b", "c"]) {
      await client.send(new PutObjectCommand({ Bucket, Key: `${prefix}${name}`, Body: name }));
    }
    const first = await client.send(new ListObjectsV2Command({ Bucket, Prefix: prefix, MaxKeys: 2 }));
    expect(first.Contents?.map((o) => o.Key)).toEqual([`${prefix}a`, `${prefix}b`]);
    expect(first.IsTruncated).toBe(true);
    const second = await client.send(
      new ListObjectsV2Command({ Bucket, Prefix: prefix, MaxKeys: 2, ContinuationToken: first.NextContinuationToken }),
    );
    expect(second.Contents?.map((o) => o.Key)).toEqual([`${prefix}c`]);
  });

  it("parses XML error bodies into typed exceptions", async () => {
    await expect(client.send(new GetObjectCommand({ Bucket, Key: `${prefix}missing` }))).rejects.toBeInstanceOf(
      NoSuchKey,
    );
  });

  it("completes a multipart upload (XML in both directions), with S3's ETag and part check", async () => {
    const Key = `${prefix}multipart`;
    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({ Bucket, Key, ContentType: "text/plain" }),
    );
    const first = new Uint8Array(5 * 1024 * 1024).fill(0x61);
    const last = new TextEncoder().encode("the end");
    const parts = await Promise.all(
      [first, last].map(async (Body, i) => {
        const { ETag } = await client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body }));
        return { ETag, PartNumber: i + 1 };
      }),
    );
    // A listed part whose ETag is not the stored part's: S3 refuses (InvalidPart) and keeps the upload.
    await expect(
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: [parts[0] ?? {}, { ETag: `"${"0".repeat(32)}"`, PartNumber: 2 }] },
        }),
      ),
    ).rejects.toMatchObject({ name: "InvalidPart" });
    await client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }));
    const object = await client.send(new GetObjectCommand({ Bucket, Key }));
    expect(object.ContentLength).toBe(first.byteLength + last.byteLength);
    expect(object.ContentType).toBe("text/plain");
    const body = new Uint8Array(await new Response(object.Body?.transformToWebStream()).arrayBuffer());
    expect(body.subarray(first.byteLength)).toEqual(last);
    expect(body.subarray(0, first.byteLength).every((byte) => byte === 0x61)).toBe(true);
    // S3's multipart ETag: the MD5 of the parts' binary MD5s, then "-<parts>" (not the object's MD5).
    expect(object.ETag).toMatch(/^"[0-9a-f]{32}-2"$/);
  });

  it("streams a body when its length is given", async () => {
    const Key = `${prefix}streamed`;
    await client.send(new PutObjectCommand({ Bucket, Key, Body: streamOf("streamed body"), ContentLength: 13 }));
    const object = await client.send(new GetObjectCommand({ Bucket, Key }));
    expect(await object.Body?.transformToString()).toBe("streamed body");
  });
});

describe("ObjectStorage", () => {
  const storage = createS3Storage(config);

  it("puts, heads, gets and deletes", async () => {
    const key = `${prefix}storage`;
    await storage.put(key, "hello storage", {
      contentLength: 13,
      contentType: "text/plain",
      metadata: { origin: "test" },
    });
    expect(await storage.head(key)).toMatchObject({
      key,
      size: 13,
      contentType: "text/plain",
      metadata: { origin: "test" },
    });
    const object = await storage.get(key);
    expect(await new Response(object?.body).text()).toBe("hello storage");
    await storage.delete(key);
    expect(await storage.head(key)).toBeNull();
    expect(await storage.get(key)).toBeNull();
  });
});
