import { toHex } from "../crypto/digest.ts";
/**
 * Passes a byte stream through unchanged while computing its SHA-256 and length, so a file is
 * hashed on its way to storage without ever being held whole in memory (workerd's
 * `crypto.DigestStream`, Cloudflare Workers docs, "Web Crypto"). `result` resolves once the stream
 * has ended: `sha256` as 64 lowercase hex characters, `bytes` the length in bytes. If the stream
 * errors or is cancelled, `result` rejects (the rejection is already handled, so it may be left
 * unawaited).
 */
export function hashingStream(): {
  stream: TransformStream<Uint8Array, Uint8Array>;
  result: Promise<{ sha256: string; bytes: number }>;
} {
  const digest = new crypto.DigestStream("SHA-256");
  const writer = digest.getWriter();
  let bytes = 0;
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      bytes += chunk.byteLength;
      await writer.write(chunk);
      controller.enqueue(chunk);
    },
    async flush() {
      await writer.close();
    },
  });
  const result = digest.digest.then((buffer) => ({ sha256: toHex(buffer), bytes }));
  // Settled by the caller after the upload; a failed upload must not leave an unhandled rejection.
  result.catch(() => {});
  return { stream, result };
}
