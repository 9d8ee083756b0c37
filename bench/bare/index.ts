import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { Hono } from "hono";
import { createPasswordHasher, type PasswordHasher } from "../../src/auth/password-hasher.ts";
import { FormDataReader, formDataBoundary } from "../../src/documents/form-data.ts";
import type { StorageConfig } from "../../src/pkg/config/config.ts";
import { toHex } from "../../src/pkg/crypto/digest.ts";
import { s3ClientFor } from "../../src/pkg/storage/s3-request.ts";
import { PART_BYTES, partsOf, readerSource } from "../../src/pkg/storage/storage.ts";

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

/**
 * Parts of `size` bytes read with a BYOB reader's `readAtLeast` (a workerd extension) straight into
 * the part's buffer: no copy from request chunks, one read per part. A candidate to `partsOf`.
 */
async function* byobParts(body: ReadableStream<Uint8Array>, size = PART_BYTES): AsyncGenerator<Uint8Array> {
  const reader = body.getReader({ mode: "byob" });
  let part = new Uint8Array(size);
  for (;;) {
    const next = await reader.readAtLeast(size, part);
    if (next.value && next.value.length > 0) yield next.value;
    if (next.done || !next.value || next.value.length < size) return;
    part = new Uint8Array(next.value.buffer);
  }
}

/** The steps /bare/upload may add after cutting parts, each measured by adding it alone. */
type Step = "sha256" | "utf8" | "sign" | "send";

/**
 * Cuts a body into parts and adds `steps` as POST /documents does them (src/documents/upload.ts,
 * src/pkg/storage/storage.ts): the file's SHA-256 through a DigestStream, the UTF-8 check text gets,
 * SigV4 signing of each part as an UploadPart request without sending it (the S3Client's own signer
 * with the project's WebCryptoSha256, so the payload is hashed again as the SDK does), or sending:
 * CreateMultipartUpload, UploadPart per part and CompleteMultipartUpload through s3ClientFor (which
 * signs too).
 */
async function upload(
  body: ReadableStream<Uint8Array>,
  steps: Set<Step>,
  options: { byob: boolean; client: S3Client; bucket: string; endpoint: string },
): Promise<Drained> {
  const { client, bucket } = options;
  const endpoint = new URL(options.endpoint);
  const key = `bench/bare-${crypto.randomUUID()}`;
  const digest = steps.has("sha256") ? new crypto.DigestStream("SHA-256") : undefined;
  const hash = digest?.getWriter();
  const utf8 = steps.has("utf8") ? new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }) : undefined;
  const signer = steps.has("sign") ? await client.config.signer() : undefined;
  const UploadId = steps.has("send")
    ? (await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))).UploadId
    : undefined;
  const parts: { ETag: string; PartNumber: number }[] = [];
  let bytes = 0;
  let PartNumber = 1;
  const source = options.byob ? byobParts(body) : partsOf(readerSource(body.getReader()));
  for await (const part of source) {
    bytes += part.length;
    if (utf8) {
      if (part.includes(0)) throw new Error("NUL in text");
      utf8.decode(part, { stream: true });
    }
    await hash?.write(part);
    if (signer) {
      await signer.sign({
        method: "PUT",
        protocol: endpoint.protocol,
        hostname: endpoint.hostname,
        port: Number(endpoint.port) || undefined,
        path: `/${bucket}/${key}`,
        query: { partNumber: String(PartNumber), uploadId: "unsent" },
        headers: { host: endpoint.host, "content-length": String(part.length) },
        body: part,
      });
    }
    if (UploadId) {
      const { ETag } = await client.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          PartNumber,
          Body: part,
          ContentLength: part.length,
        }),
      );
      parts.push({ ETag: ETag ?? "", PartNumber });
    }
    PartNumber += 1;
  }
  utf8?.decode();
  if (UploadId) {
    await client.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }),
    );
  }
  await hash?.close();
  return { bytes, reads: PartNumber - 1, ...(digest ? { sha256: toHex(await digest.digest) } : {}) };
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
  // A multipart/form-data body read with the API's own reader (src/documents/form-data.ts), every
  // part's bytes taken and discarded (the file's counted): what the form parsing costs on top of draining.
  .post("/bare/form", async (c) => {
    const boundary = formDataBoundary(c.req.header("content-type"));
    const body = c.req.raw.body;
    if (!boundary || !body) return c.json({ error: "a multipart/form-data body is required" }, 400);
    const form = new FormDataReader(body, boundary);
    let bytes = 0;
    let reads = 0;
    for (let part = await form.nextPart(); part; part = await form.nextPart()) {
      for (let chunk = await form.readChunk(); chunk; chunk = await form.readChunk()) {
        if (part.name !== "file") continue;
        bytes += chunk.length;
        reads += 1;
      }
    }
    return c.json({ bytes, reads } satisfies Drained);
  })
  // The API's part size, for the benchmark's multipart baseline from Node.
  .get("/bare/parts", (c) => c.json({ partBytes: PART_BYTES }))
  // The upload path's pieces one by one (see `upload`): `?steps=sha256,sign` and so on;
  // `?reader=byob` cuts parts with readAtLeast instead of partsOf.
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
        byob: c.req.query("reader") === "byob",
        client: s3ClientFor(config),
        bucket: config.bucket,
        endpoint: c.env.S3_ENDPOINT,
      }),
    );
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
