import { S3Client, type UploadPartCommand } from "@aws-sdk/client-s3";
import type { StorageConfig } from "../config/config.ts";
import { DependencyError } from "../errors/api-error.ts";
import { DeadlineExceededError } from "../errors/deadline.ts";
import { timeCall } from "../metrics/recorder.ts";
import { WebCryptoSha256 } from "./web-crypto-sha256.ts";

// An S3Client holds configuration only (each send is its own fetch), so one per configuration
// is reused across requests of the isolate.
const clients = new WeakMap<StorageConfig, S3Client>();

/**
 * The isolate's `S3Client` for `config`: up to 2 attempts per request, payloads signed (SigV4) with
 * the runtime's native SHA-256, no optional checksum headers (R2 and other S3-compatible
 * servers reject them), and every command timed in `techcorp_dependency_call_duration_seconds`.
 */
export function s3ClientFor(config: StorageConfig): S3Client {
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
      // Payload signing on native WebCrypto (see web-crypto-sha256.ts).
      sha256: WebCryptoSha256,
    });
    // Each command (all its attempts) timed as a dependency call: `GetObject`, `UploadPart`, …
    client.middlewareStack.add(
      (next, context) => (args) =>
        timeCall("s3", (context.commandName ?? "other").replace(/Command$/, ""), () => next(args)),
      { step: "initialize", name: "dependencyCallMetrics" },
    );
    clients.set(config, client);
  }
  return client;
}

/**
 * `command` with its SigV4 payload hash given: `sha256Hex` (64 lowercase hex characters, the SHA-256
 * of the part's bytes) goes into `x-amz-content-sha256`, which the signer takes as the payload's hash
 * instead of hashing the body (@smithy/signature-v4 `getPayloadHash`). The payload stays signed: the
 * header is part of the signature and S3 refuses a body that does not match it
 * (`XAmzContentSHA256Mismatch`, S3 API reference "Authenticating Requests: Using the Authorization
 * Header"). Returns the same command.
 */
export function withPayloadHash(command: UploadPartCommand, sha256Hex: string): UploadPartCommand {
  command.middlewareStack.add(
    (next) => (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers["x-amz-content-sha256"] = sha256Hex;
      return next(args);
    },
    { step: "build", name: "knownPayloadHash" },
  );
  return command;
}

/** One S3 request (`client.send(command, options)`), given the signal that aborts it. */
export type S3Request<T> = (options: { abortSignal: AbortSignal }) => Promise<T>;

/**
 * Runs one S3 request (all of the SDK's attempts) under a deadline of `timeoutMs`: past it the
 * request is aborted and `DependencyError("storage", DeadlineExceededError)` thrown. Other failures
 * are rethrown as they are, for the caller to classify. The deadline covers the response headers; a
 * `controller` given by the caller stays usable to abort the body later.
 */
export async function sendWithDeadline<T>(
  timeoutMs: number,
  request: S3Request<T>,
  controller = new AbortController(),
): Promise<T> {
  const timer = setTimeout(
    () => controller.abort(new DeadlineExceededError("storage", timeoutMs, "request")),
    timeoutMs,
  );
  try {
    return await request({ abortSignal: controller.signal });
  } catch (error) {
    const reason: unknown = controller.signal.reason;
    if (reason instanceof DeadlineExceededError) throw new DependencyError("storage", reason);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** `sendWithDeadline`, with every failure thrown as `DependencyError("storage")`. */
export async function callStorage<T>(timeoutMs: number, request: S3Request<T>): Promise<T> {
  try {
    return await sendWithDeadline(timeoutMs, request);
  } catch (error) {
    throw error instanceof DependencyError ? error : new DependencyError("storage", error);
  }
}
