import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { Hono } from "hono";
import { createPasswordHasher, type PasswordHasher } from "../../src/auth/password-hasher.ts";
import { FormDataReader, formDataBoundary } from "../../src/documents/form-data.ts";
import { storeFile } from "../../src/documents/upload.ts";
import type { StorageConfig } from "../../src/pkg/config/config.ts";
import { toHex } from "../../src/pkg/crypto/digest.ts";
import { s3ClientFor, withPayloadHash } from "../../src/pkg/storage/s3-request.ts";
import {
  byteSource,
  createS3Storage,
  type ObjectStorage,
  PART_BYTES,
  partsOf,
  readerSource,
} from "../../src/pkg/storage/storage.ts";

/** Declared in wrangler.toml; the benchmark passes the API's values and the stack's S3 settings. */
type Bindings = {
  PBKDF2_ITERATIONS: string;
  S3_ENDPOINT: string;
  S3_REGION: string;
  S3_BUCKET: string;
  S3_ACCESS_KEY_ID: string;
  S3_SECRET_ACCESS_KEY: string;
};

const PASSWORD = "benchmark password 1";
let hashed: { hasher: PasswordHasher; stored: string } | undefined;

/** The API's hasher at the API's iteration count, and one stored hash to verify against (per isolate). */
async function storedHash(iterations: number): Promise<{ hasher: PasswordHasher; stored: string }> {
  if (hashed?.hasher.iterations !== iterations) {
    const hasher = createPasswordHasher({ iterations });
    hashed = { hasher, stored: await hasher.hash(PASSWORD) };
  }
  return hashed;
}

let storage: StorageConfig | undefined;

/** The stack's S3 as the API configures it (one object per isolate: s3ClientFor caches by identity). */
function storageConfig(env: Bindings): StorageConfig {
  storage ??= {
    endpoint: env.S3_ENDPOINT,
    region: env.S3_REGION,
    bucket: env.S3_BUCKET,
    thumbnailsBucket: env.S3_BUCKET,
    forcePathStyle: true,
    accessKeyId: env.S3_ACCESS_KEY_ID,
    secretAccessKey: env.S3_SECRET_ACCESS_KEY,
    timeoutMs: 30_000,
  };
  return storage;
}

let documents: ObjectStorage | undefined;

/** The documents bucket through the project's storage module, as the API builds it (per isolate). */
function storageFor(env: Bindings): ObjectStorage {
  documents ??= createS3Storage(storageConfig(env));
  return documents;
}

/** What a body route read: bytes, the reads it took, and the file's SHA-256 when it was computed. */
interface Drained {
  bytes: number;
  reads: number;
  sha256?: string;
}

/** Reads a body to the end with the default reader (chunks as the runtime delivers them). */
async function drainDefault(body: ReadableStream<Uint8Array>): Promise<Drained> {
  const reader = body.getReader();
  let bytes = 0;
  let reads = 0;
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    bytes += next.value.length;
    reads += 1;
  }
  return { bytes, reads };
}

/** Reads a body to the end with a BYOB reader into one reused 1 MiB buffer. */
async function drainByob(body: ReadableStream<Uint8Array>): Promise<Drained> {
  const reader = body.getReader({ mode: "byob" });
  let view = new Uint8Array(1024 * 1024);
  let bytes = 0;
  let reads = 0;
  for (;;) {
    const next = await reader.read(view);
    if (next.done || !next.value) break;
    bytes += next.value.length;
    reads += 1;
    // The read transferred the buffer; the result views the same memory, reused for the next read.
    view = new Uint8Array(next.value.buffer);
  }
  return { bytes, reads };
}

/** The steps /bare/upload may add after cutting parts, each measured by adding it alone. */
type Step = "sha256" | "utf8" | "sign" | "send";

/** As src/documents/upload.ts checks text: 64 KiB slices through one fatal streaming decoder. */
const UTF8_SLICE_BYTES = 64 * 1024;

/**
 * Cuts a body into parts with `partsOf` and adds `steps` as POST /documents does them
 * (src/documents/upload.ts): the UTF-8 check text gets, the file's SHA-256 through a DigestStream,
 * SigV4 signing of each part as an UploadPart request without sending it (the S3Client's own signer
 * with the project's WebCryptoSha256, so the payload is hashed a second time, as the SDK does), or
 * sending the parts through the project's storage (`createS3Storage(…).upload`: multipart, the next
 * part read while one is sent; the SDK signs them itself). `source` is the API's (`byteSource`: BYOB
 * reads straight into the part) or a default reader's chunks copied in (`readerSource`).
 */
async function upload(
  body: ReadableStream<Uint8Array>,
  steps: Set<Step>,
  options: { source: "byob" | "default"; client: S3Client; storage: ObjectStorage; endpoint: string },
): Promise<Drained> {
  const { client, storage } = options;
  const key = `bench/bare-${crypto.randomUUID()}`;
  const digest = steps.has("sha256") ? new crypto.DigestStream("SHA-256") : undefined;
  const hash = digest?.getWriter();
  const utf8 = steps.has("utf8") ? new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }) : undefined;
  const signer = steps.has("sign") ? await client.config.signer() : undefined;
  let bytes = 0;
  let count = 0;
  const source = options.source === "byob" ? byteSource(body) : readerSource(body.getReader());
  async function* parts(): AsyncGenerator<Uint8Array> {
    for await (const part of partsOf(source)) {
      bytes += part.length;
      count += 1;
      if (utf8) {
        if (part.includes(0)) throw new Error("NUL in text");
        for (let at = 0; at < part.length; at += UTF8_SLICE_BYTES)
          utf8.decode(part.subarray(at, at + UTF8_SLICE_BYTES), { stream: true });
      }
      await hash?.write(part);
      if (signer) {
        const endpoint = new URL(options.endpoint);
        await signer.sign({
          method: "PUT",
          protocol: endpoint.protocol,
          hostname: endpoint.hostname,
          port: Number(endpoint.port) || undefined,
          path: `/${storage.bucket}/${key}`,
          query: { partNumber: String(count), uploadId: "unsent" },
          headers: { host: endpoint.host, "content-length": String(part.length) },
          body: part,
        });
      }
      yield part;
    }
    utf8?.decode();
    await hash?.close();
  }
  if (steps.has("send")) await storage.upload(key, parts(), { contentType: "text/plain" });
  else for await (const _ of parts());
  return { bytes, reads: count, ...(digest ? { sha256: toHex(await digest.digest) } : {}) };
}

/** How /bare/send sends one part: each adds one piece of what `ObjectStorage.upload` does per part. */
type SendMode =
  | "digest"
  | "sign"
  | "fetch-unsigned"
  | "fetch-signed"
  | "fetch-signed-part"
  | "sdk-put"
  | "sdk-part"
  | "sdk-part-prehashed";

/**
 * Sends one part of `partBytes` bytes `count` times, one after the other, the way `mode` says:
 * `digest` only hashes it (crypto.subtle.digest, as WebCryptoSha256), `sign` signs it as the SDK
 * does without sending, `fetch-unsigned` PUTs it with a SigV4 header signature but an
 * UNSIGNED-PAYLOAD hash (no hashing: what workerd's fetch costs alone), `fetch-signed` signs it with
 * the S3Client's signer (payload hashed) and PUTs it with a plain fetch (no SDK middleware;
 * `fetch-signed-part` the same as an UploadPart of one multipart upload),
 * `sdk-put` sends it as a PutObjectCommand and `sdk-part` as an UploadPartCommand of one multipart
 * upload, `sdk-part-prehashed` the same with the payload hash taken while the part before is sent
 * and given to the signer as `x-amz-content-sha256` (as storage.ts does). `target` overrides where the fetch modes send (e.g. a sink that
 * drains bodies, to take the S3 server out). Returns the milliseconds each send took.
 */
async function sendParts(
  client: S3Client,
  config: StorageConfig,
  options: { mode: SendMode; count: number; partBytes: number; target?: string | undefined },
): Promise<{ bytes: number; reads: number; ms: number[] }> {
  const part = new Uint8Array(options.partBytes).fill(0x61);
  const Bucket = config.bucket;
  const Key = `bench/send-${crypto.randomUUID()}`;
  const endpoint = new URL(options.target ?? config.endpoint ?? "");
  const signer = await client.config.signer();
  const uploadId =
    options.mode === "sdk-part" || options.mode === "sdk-part-prehashed" || options.mode === "fetch-signed-part"
      ? (await client.send(new CreateMultipartUploadCommand({ Bucket, Key }))).UploadId
      : undefined;
  const ms: number[] = [];
  const parts: { ETag: string; PartNumber: number }[] = [];
  const hashOf = async (bytes: Uint8Array) => toHex(await crypto.subtle.digest("SHA-256", bytes));
  let nextHash: Promise<string> | undefined;
  /** Part i + 1 of the multipart upload, as `UploadPart`. */
  const partCommand = (i: number, part: Uint8Array) =>
    new UploadPartCommand({
      Bucket,
      Key,
      UploadId: uploadId,
      PartNumber: i + 1,
      Body: part,
      ContentLength: part.length,
    });
  for (let i = 0; i < options.count; i++) {
    const start = performance.now();
    const signed = (hash?: string) =>
      signer.sign({
        method: "PUT",
        protocol: endpoint.protocol,
        hostname: endpoint.hostname,
        port: Number(endpoint.port) || undefined,
        path: options.mode === "fetch-signed-part" ? `/${Bucket}/${Key}` : `/${Bucket}/${Key}-${i}`,
        query: options.mode === "fetch-signed-part" ? { partNumber: String(i + 1), uploadId: uploadId ?? "" } : {},
        headers: {
          host: endpoint.host,
          "content-length": String(part.length),
          ...(hash ? { "x-amz-content-sha256": hash } : {}),
        },
        body: part,
      });
    const put = async (request: { headers: Record<string, string>; path: string; query?: unknown }) => {
      const query = new URLSearchParams(request.query as Record<string, string>).toString();
      const res = await fetch(`${endpoint.origin}${request.path}${query ? `?${query}` : ""}`, {
        method: "PUT",
        headers: request.headers,
        body: part,
      });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`PUT ${request.path}: ${res.status}`);
    };
    switch (options.mode) {
      case "digest":
        await crypto.subtle.digest("SHA-256", part);
        break;
      case "sign":
        await signed();
        break;
      case "fetch-unsigned":
        await put(await signed("UNSIGNED-PAYLOAD"));
        break;
      case "fetch-signed":
      case "fetch-signed-part":
        await put(await signed());
        break;
      case "sdk-put":
        await client.send(new PutObjectCommand({ Bucket, Key: `${Key}-${i}`, Body: part, ContentLength: part.length }));
        break;
      case "sdk-part-prehashed": {
        const payloadHash = await (nextHash ?? hashOf(part));
        // As storage.ts sends its parts: the payload hash given to the signer (withPayloadHash).
        const command = withPayloadHash(partCommand(i, part), payloadHash);
        const sending = client.send(command);
        // The next part's hash while this one is in flight (the same bytes here, hashed again).
        nextHash = i + 1 < options.count ? hashOf(part) : undefined;
        const { ETag } = await sending;
        parts.push({ ETag: ETag ?? "", PartNumber: i + 1 });
        break;
      }
      case "sdk-part": {
        const { ETag } = await client.send(partCommand(i, part));
        parts.push({ ETag: ETag ?? "", PartNumber: i + 1 });
        break;
      }
    }
    ms.push(performance.now() - start);
  }
  if (uploadId) await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: uploadId }));
  return { bytes: part.length * options.count, reads: options.count, ms };
}

// The benchmark's baselines: the same framework and runtime with no middleware.
const app = new Hono<{ Bindings: Bindings }>()
  .get("/bare", (c) => c.json({ status: "ok" }))
  // Reads a request body to the end and throws it away: what moving bytes into workerd costs.
  // `?reader=byob` reads it with a BYOB reader instead of the default one.
  .post("/bare/drain", async (c) => {
    const body = c.req.raw.body;
    if (!body) return c.json({ bytes: 0, reads: 0 } satisfies Drained);
    return c.json(c.req.query("reader") === "byob" ? await drainByob(body) : await drainDefault(body));
  })
  // A multipart/form-data body read with the API's own reader (src/documents/form-data.ts), the
  // fields' bytes taken and discarded, and the file part's counted: what the form parsing costs on
  // top of draining. `?parts=1` cuts the file part into parts as the API does (partSource, partsOf).
  .post("/bare/form", async (c) => {
    const boundary = formDataBoundary(c.req.header("content-type"));
    const body = c.req.raw.body;
    if (!boundary || !body) return c.json({ error: "a multipart/form-data body is required" }, 400);
    const form = new FormDataReader(body, boundary);
    let bytes = 0;
    let reads = 0;
    for (let part = await form.nextPart(); part; part = await form.nextPart()) {
      if (part.name === "file" && c.req.query("parts")) {
        for await (const chunk of partsOf(form.partSource())) {
          bytes += chunk.length;
          reads += 1;
        }
        continue;
      }
      for (let chunk = await form.readChunk(); chunk; chunk = await form.readChunk()) {
        if (part.name !== "file") continue;
        bytes += chunk.length;
        reads += 1;
      }
    }
    return c.json({ bytes, reads } satisfies Drained);
  })
  // The file's whole path in the API without the API around it: storeFile (src/documents/upload.ts:
  // type sniffing, UTF-8 check, SHA-256, parts, multipart upload), no gateway, rows or events.
  .post("/bare/store", async (c) => {
    const body = c.req.raw.body;
    if (!body) return c.json({ error: "a body is required" }, 400);
    const stored = await storeFile(storageFor(c.env), {
      key: `bench/store-${crypto.randomUUID()}`,
      body: byteSource(body),
      declaredType: c.req.header("content-type"),
      maxBytes: Number.POSITIVE_INFINITY,
    });
    return c.json({ bytes: stored.size, reads: Math.ceil(stored.size / PART_BYTES), sha256: stored.sha256 });
  })
  // The API's part size, for the benchmark's multipart baseline from Node.
  .get("/bare/parts", (c) => c.json({ partBytes: PART_BYTES }))
  // The upload path's pieces one by one (see `upload`): `?steps=sha256,sign` and so on;
  // `?reader=default` reads the body's chunks and copies them into the parts instead of BYOB reads.
  .post("/bare/upload", async (c) => {
    const body = c.req.raw.body;
    if (!body) return c.json({ error: "a body is required" }, 400);
    const steps = new Set(
      (c.req.query("steps") ?? "")
        .split(",")
        .filter((step): step is Step => ["sha256", "utf8", "sign", "send"].includes(step)),
    );
    const config = storageConfig(c.env);
    return c.json(
      await upload(body, steps, {
        source: c.req.query("reader") === "default" ? "default" : "byob",
        client: s3ClientFor(config),
        storage: storageFor(c.env),
        endpoint: c.env.S3_ENDPOINT,
      }),
    );
  })
  // One part sent `count` times in one of the ways `sendParts` measures: `?mode=sdk-part&count=7`.
  .post("/bare/send", async (c) => {
    const mode = c.req.query("mode") as SendMode;
    const modes: SendMode[] = [
      "digest",
      "sign",
      "fetch-unsigned",
      "fetch-signed",
      "fetch-signed-part",
      "sdk-put",
      "sdk-part",
      "sdk-part-prehashed",
    ];
    if (!modes.includes(mode)) return c.json({ error: `mode is one of ${modes.join(", ")}` }, 400);
    const config = storageConfig(c.env);
    return c.json(
      await sendParts(s3ClientFor(config), config, {
        mode,
        count: Number(c.req.query("count") ?? 1),
        partBytes: Number(c.req.query("bytes") ?? PART_BYTES),
        target: c.req.query("target"),
      }),
    );
  })
  // `bytes` (default 32 MiB) from memory through createS3Storage().upload, as parts of PART_BYTES:
  // the multipart upload without a request body arriving meanwhile.
  .post("/bare/send-upload", async (c) => {
    const size = Number(c.req.query("bytes") ?? 32 * 1024 * 1024);
    const part = new Uint8Array(PART_BYTES).fill(0x61);
    async function* parts(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < size; at += PART_BYTES) yield part.subarray(0, Math.min(PART_BYTES, size - at));
    }
    const start = performance.now();
    await storageFor(c.env).upload(`bench/send-upload-${crypto.randomUUID()}`, parts(), { contentType: "text/plain" });
    return c.json({ bytes: size, reads: Math.ceil(size / PART_BYTES), ms: [performance.now() - start] });
  })
  // One password verification, exactly as the password grant does it (src/auth/password-hasher.ts):
  // the physical limit of POST /auth/token.
  .post("/bare/pbkdf2", async (c) => {
    const { hasher, stored } = await storedHash(Number(c.env.PBKDF2_ITERATIONS));
    const check = await hasher.verify(PASSWORD, stored);
    return c.json({ valid: check.valid });
  })
  // The benchmark prints what failed; this worker is never deployed.
  .onError((error, c) => c.text(error instanceof Error ? (error.stack ?? error.message) : String(error), 500));

// Default export: the Workers runtime calls `fetch()` on it.
export default app;
