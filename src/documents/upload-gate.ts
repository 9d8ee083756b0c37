import { ApiError } from "../pkg/errors/api-error.ts";
import { PART_BYTES } from "../pkg/storage/storage.ts";

// The upload buffers one isolate holds at once. Workers run many requests in one isolate of 128 MB
// ("Production limits" in README.md; Cloudflare Workers limits, "Memory"), and every upload request
// holds its buffers until its parts are stored: POST /documents two parts being filled and sent
// plus the SDK's copies, a resumable part request its whole part until S3 answers. Without a bound
// five or six at once approach the limit; with it, a request waits a little for room and is then
// told to come back (503 with Retry-After; OWASP API4:2023, unrestricted resource consumption).

const MiB = 1024 * 1024;

/** Bytes of upload buffers one isolate admits at once: 4 POST /documents bodies, the rest of 128 MB for everything else. */
export const UPLOAD_GATE_BYTES = 88 * MiB;

/**
 * What one POST /documents body holds while it streams (bytes): two 5 MiB part buffers
 * (`partsOf`), the part being signed and sent, and the runtime's copies; measured at ~22 MiB per
 * upload (`npm run bench`, memory scenarios).
 */
export const DOCUMENT_UPLOAD_BYTES = 22 * MiB;

/**
 * What a POST /documents body is counted as (bytes): `DOCUMENT_UPLOAD_BYTES`, or when its length is
 * known (`Content-Length`, an upper bound of the file) and small, one part buffer plus that length:
 * a file shorter than a part never fills more (one PutObject), so small documents are not held back
 * as if they were large.
 */
export function documentUploadWeight(lengthAtMost?: number): number {
  if (lengthAtMost === undefined || !Number.isFinite(lengthAtMost) || lengthAtMost < 0) return DOCUMENT_UPLOAD_BYTES;
  return Math.min(DOCUMENT_UPLOAD_BYTES, PART_BYTES + lengthAtMost);
}

/** How long a request waits for room before it is answered 503 (ms). */
export const UPLOAD_GATE_WAIT_MS = 5_000;

/** The Retry-After (seconds) of a 503 for want of room. */
export const UPLOAD_GATE_RETRY_AFTER_S = 2;

const POLL_MS = 20;

/** The gate stayed full for as long as the request may wait. */
export class UploadGateFullError extends Error {
  constructor(bytes: number) {
    super(`no room for an upload of ${bytes} buffer bytes in this instance`);
    this.name = "UploadGateFullError";
  }
}

/**
 * A counting semaphore of bytes: `enter` admits a holder of `bytes` while the held total stays
 * within `capacity` (one holder larger than the capacity is admitted alone), in arrival order.
 * Waiting polls (a promise resolved by another request's release would cross request contexts in
 * workerd, which it forbids).
 */
export class UploadGate {
  #held = 0;
  #waiting: number[] = [];
  #next = 0;

  /** Bytes the holders may hold together. */
  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Bytes held now. */
  get held(): number {
    return this.#held;
  }

  /** Requests waiting now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Takes `bytes` of the gate, waiting up to `waitMs` for room behind those who came first.
   * Resolves to the release (idempotent); throws `UploadGateFullError` when no room came in time.
   */
  async enter(bytes: number, waitMs = UPLOAD_GATE_WAIT_MS): Promise<() => void> {
    const ticket = this.#next++;
    this.#waiting.push(ticket);
    const deadline = Date.now() + waitMs;
    try {
      while (!this.#fits(ticket, bytes)) {
        if (Date.now() >= deadline) throw new UploadGateFullError(bytes);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    } finally {
      this.#waiting.splice(this.#waiting.indexOf(ticket), 1);
    }
    this.#held += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#held -= bytes;
    };
  }

  #fits(ticket: number, bytes: number): boolean {
    if (this.#waiting[0] !== ticket) return false;
    return this.#held === 0 || this.#held + bytes <= this.capacity;
  }
}

/** The isolate's gate (module state lives as long as the isolate). */
export const uploadGate = new UploadGate(UPLOAD_GATE_BYTES);

/**
 * Runs `work` holding `bytes` of `gate`. Throws 503 `service_unavailable` with `Retry-After` when
 * no room came within `waitMs`; otherwise what `work` throws.
 */
export async function withUploadRoom<T>(
  bytes: number,
  work: () => Promise<T>,
  options: { gate?: UploadGate; waitMs?: number } = {},
): Promise<T> {
  let release: () => void;
  try {
    release = await (options.gate ?? uploadGate).enter(bytes, options.waitMs);
  } catch (error) {
    if (error instanceof UploadGateFullError) {
      throw new ApiError("service_unavailable", {
        detail: "This instance is receiving as many uploads as it can hold; try again shortly.",
        headers: { "Retry-After": String(UPLOAD_GATE_RETRY_AFTER_S) },
        cause: error,
      });
    }
    throw error;
  }
  try {
    return await work();
  } finally {
    release();
  }
}
