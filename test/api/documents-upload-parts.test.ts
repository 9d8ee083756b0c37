import { afterEach, describe, expect, it, vi } from "vitest";
import { storeFile } from "../../src/documents/upload.ts";
import { loadApiConfig } from "../../src/pkg/config/config.ts";
import { ApiError, DependencyError } from "../../src/pkg/errors/api-error.ts";
import { RequestBodyError } from "../../src/pkg/errors/request-body.ts";
import { byteSource, createS3Storage, PART_BYTES } from "../../src/pkg/storage/storage.ts";
import { testEnv } from "../helpers.ts";

// storeFile (src/documents/upload.ts) against the stack's S3 server, inside workerd: part N+1 is
// read while part N is sent, so a failure on either side must still leave nothing stored and no
// multipart upload open. The S3 requests are observed (and, for a network failure, one is failed)
// by wrapping the runtime's fetch, through which the SDK sends every request.

const config = loadApiConfig(testEnv).storage;
const storage = createS3Storage(config);

afterEach(() => vi.restoreAllMocks());

interface Sent {
  /** CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload, PutObject. */
  operation: string;
  part?: number;
  startedAt: number;
  settledAt?: number;
}

function operationOf(request: Request): { operation: string; part?: number } {
  const url = new URL(request.url);
  const part = url.searchParams.get("partNumber");
  if (request.method === "POST" && url.searchParams.has("uploads")) return { operation: "CreateMultipartUpload" };
  if (request.method === "POST" && url.searchParams.has("uploadId")) return { operation: "CompleteMultipartUpload" };
  if (request.method === "DELETE" && url.searchParams.has("uploadId")) return { operation: "AbortMultipartUpload" };
  if (request.method === "PUT" && part) return { operation: "UploadPart", part: Number(part) };
  return { operation: `${request.method} ${url.pathname}` };
}

let clock = 0;

/**
 * Records every S3 request the SDK makes (in order, with when it started and settled), passing it
 * on to the real server. `hold` may delay a request before it is sent, or fail it as a broken
 * connection would.
 */
function recordRequests(hold?: (sent: Sent) => Promise<void>): Sent[] {
  const log: Sent[] = [];
  const real = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    const sent: Sent = { ...operationOf(request), startedAt: clock++ };
    log.push(sent);
    try {
      await hold?.(sent);
      return await real(request);
    } finally {
      sent.settledAt = clock++;
    }
  });
  return log;
}

/** `length` bytes of ASCII text as a byte stream (as workerd gives a request body), erroring after `breakAt` bytes if given. */
function textBody(length: number, breakAt?: number): ReadableStream<Uint8Array> {
  const bytes = new Uint8Array(breakAt ?? length);
  for (let i = 0; i < bytes.length; i++) bytes[i] = i % 80 === 79 ? 10 : 97 + (i % 26);
  if (breakAt === undefined) return new Response(bytes).body as ReadableStream<Uint8Array>;
  let sent = 0;
  return new ReadableStream({
    type: "bytes",
    pull(controller: ReadableByteStreamController) {
      if (sent >= bytes.length) return controller.error(new Error("Network connection lost."));
      const chunk = bytes.slice(sent, sent + 64 * 1024);
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  }) as ReadableStream<Uint8Array>;
}

const sourceOf = (body: ReadableStream<Uint8Array>) => byteSource(body, (error) => new RequestBodyError(error));

/** Checks that the upload was aborted only once every part upload had settled, and never completed. */
function expectAbortedAfterParts(log: Sent[]) {
  const abort = log.find((sent) => sent.operation === "AbortMultipartUpload");
  expect(abort).toBeDefined();
  expect(log.some((sent) => sent.operation === "CompleteMultipartUpload")).toBe(false);
  for (const part of log.filter((sent) => sent.operation === "UploadPart")) {
    expect(part.settledAt).toBeDefined();
    expect(part.settledAt ?? Number.POSITIVE_INFINITY).toBeLessThan(abort?.startedAt ?? 0);
  }
}

describe("storeFile, parts sent while the next is read", () => {
  it.each([
    [1, ["PutObject"]],
    [PART_BYTES - 1, ["PutObject"]],
    [PART_BYTES, ["CreateMultipartUpload", "UploadPart 1", "CompleteMultipartUpload"]],
    [PART_BYTES + 1, ["CreateMultipartUpload", "UploadPart 1", "UploadPart 2", "CompleteMultipartUpload"]],
  ])("stores %i bytes exactly, with the requests %j", async (length, requests) => {
    const log = recordRequests();
    const key = `upload-parts-test/${crypto.randomUUID()}`;
    const file = await storeFile(storage, {
      key,
      body: sourceOf(textBody(length)),
      declaredType: "text/plain",
      maxBytes: 4 * PART_BYTES,
    });
    vi.restoreAllMocks();
    const expected = new Uint8Array(await new Response(textBody(length)).arrayBuffer());
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", expected));
    expect(file.size).toBe(length);
    expect(file.sha256).toBe(Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join(""));
    const stored = await storage.get(key);
    expect(new Uint8Array(await new Response(stored?.body).arrayBuffer())).toEqual(expected);
    const names = log.map((sent) =>
      sent.operation.startsWith("PUT /") ? "PutObject" : `${sent.operation}${sent.part ? ` ${sent.part}` : ""}`,
    );
    expect(names).toEqual(requests);
    await storage.delete(key);
  });

  it("refuses an empty body (400) without a request to storage", async () => {
    const log = recordRequests();
    await expect(
      storeFile(storage, {
        key: `upload-parts-test/${crypto.randomUUID()}`,
        body: sourceOf(textBody(0)),
        declaredType: "text/plain",
        maxBytes: PART_BYTES,
      }),
    ).rejects.toMatchObject({ code: "validation_failed" });
    expect(log).toEqual([]);
  });

  it("aborts after a part upload that failed while the next part was read, and stores nothing", async () => {
    const log = recordRequests(async (sent) => {
      if (sent.operation === "UploadPart" && sent.part === 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        throw new TypeError("Network connection lost.");
      }
    });
    const key = `upload-parts-test/${crypto.randomUUID()}`;
    const failure = await storeFile(storage, {
      key,
      body: sourceOf(textBody(3 * PART_BYTES)),
      declaredType: "text/plain",
      maxBytes: 4 * PART_BYTES,
    }).catch((error: unknown) => error);
    vi.restoreAllMocks();
    expect(failure).toBeInstanceOf(DependencyError);
    expectAbortedAfterParts(log);
    // Part 2 was read meanwhile but never sent (however many attempts the SDK made at part 1).
    expect(new Set(log.filter((sent) => sent.operation === "UploadPart").map((sent) => sent.part))).toEqual(
      new Set([1]),
    );
    expect(await storage.head(key)).toBeNull();
  });

  it("answers 413 when the limit is passed while a part is in flight, aborting once it has settled", async () => {
    const log = recordRequests(async (sent) => {
      // Part 1 is still being sent when the read of part 2 passes the limit.
      if (sent.operation === "UploadPart") await new Promise((resolve) => setTimeout(resolve, 200));
    });
    const key = `upload-parts-test/${crypto.randomUUID()}`;
    const failure = await storeFile(storage, {
      key,
      body: sourceOf(textBody(2 * PART_BYTES)),
      declaredType: "text/plain",
      maxBytes: PART_BYTES + 10,
    }).catch((error: unknown) => error);
    vi.restoreAllMocks();
    expect(failure).toBeInstanceOf(ApiError);
    expect(failure).toMatchObject({ code: "payload_too_large" });
    expectAbortedAfterParts(log);
    expect(log.filter((sent) => sent.operation === "UploadPart").map((sent) => sent.part)).toEqual([1]);
    expect(await storage.head(key)).toBeNull();
  });

  it("throws RequestBodyError for a body that breaks off mid-part, aborting once the part in flight has settled", async () => {
    const log = recordRequests(async (sent) => {
      if (sent.operation === "UploadPart") await new Promise((resolve) => setTimeout(resolve, 100));
    });
    const key = `upload-parts-test/${crypto.randomUUID()}`;
    const failure = await storeFile(storage, {
      key,
      body: sourceOf(textBody(3 * PART_BYTES, PART_BYTES + 1000)),
      declaredType: "text/plain",
      maxBytes: 4 * PART_BYTES,
    }).catch((error: unknown) => error);
    vi.restoreAllMocks();
    expect(failure).toBeInstanceOf(RequestBodyError);
    expectAbortedAfterParts(log);
    expect(await storage.head(key)).toBeNull();
  });
});

describe("ObjectStorage.upload, payloads signed", () => {
  it("signs every part with its own SHA-256 as the payload hash (taken while the part before is sent)", async () => {
    const seen: {
      operation: string;
      part?: number;
      payloadHash: string | null;
      signedHeaders: string;
      body: string;
    }[] = [];
    const real = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input, init);
      const body = new Uint8Array(await request.clone().arrayBuffer());
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
      seen.push({
        ...operationOf(request),
        payloadHash: request.headers.get("x-amz-content-sha256"),
        signedHeaders: /SignedHeaders=([^,]+)/.exec(request.headers.get("authorization") ?? "")?.[1] ?? "",
        body: Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join(""),
      });
      return real(request);
    });
    // Three parts of different bytes, the last short: each must carry its own hash.
    const parts = [0x61, 0x62, 0x63].map((byte, i) => new Uint8Array(i < 2 ? PART_BYTES : 1000).fill(byte));
    async function* produce(): AsyncGenerator<Uint8Array> {
      yield* parts;
    }
    const key = `upload-parts-test/${crypto.randomUUID()}`;
    expect(await storage.upload(key, produce(), { contentType: "text/plain" })).toEqual({
      size: 2 * PART_BYTES + 1000,
    });
    vi.restoreAllMocks();
    const uploads = seen.filter((sent) => sent.operation === "UploadPart");
    expect(uploads.map((sent) => sent.part)).toEqual([1, 2, 3]);
    for (const sent of uploads) {
      expect(sent.payloadHash).toBe(sent.body);
      expect(sent.signedHeaders.split(";")).toContain("x-amz-content-sha256");
    }
    expect(new Set(uploads.map((sent) => sent.payloadHash)).size).toBe(3);
    const stored = await storage.get(key);
    expect((await new Response(stored?.body).arrayBuffer()).byteLength).toBe(2 * PART_BYTES + 1000);
    await storage.delete(key);
  });
});
