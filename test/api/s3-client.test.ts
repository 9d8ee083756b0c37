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
import { WebCryptoSha256 } from "../../src/pkg/storage/web-crypto-sha256.ts";
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

  it("completes a multipart upload (XML in both directions)", async () => {
    const Key = `${prefix}multipart`;
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const part = new Uint8Array(5 * 1024 * 1024).fill(7);
    const { ETag } = await client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: part }));
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key,
        UploadId,
        MultipartUpload: { Parts: [{ ETag, PartNumber: 1 }] },
      }),
    );
    const object = await client.send(new GetObjectCommand({ Bucket, Key }));
    expect(object.ContentLength).toBe(part.byteLength);
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

describe("WebCryptoSha256 (the SDK's signing hash)", () => {
  const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

  it("hashes incrementally fed data like SHA-256 (FIPS 180-2 vector)", async () => {
    const hash = new WebCryptoSha256();
    hash.update("ab");
    hash.update(new TextEncoder().encode("c"));
    expect(hex(await hash.digest())).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hash.reset();
    expect(hex(await hash.digest())).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("is HMAC-SHA256 when given a secret (RFC 4231 test case 2)", async () => {
    const hmac = new WebCryptoSha256("Jefe");
    hmac.update("what do ya want ");
    hmac.update("for nothing?");
    expect(hex(await hmac.digest())).toBe("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  });
});
