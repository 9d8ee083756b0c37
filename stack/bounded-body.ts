import type http from "node:http";

/** Bytes of an over-long request body read and dropped before the connection is closed instead. */
const DRAIN_BYTES = 64 * 1024 * 1024;

/**
 * A request's body, or undefined when it is over `limit` bytes. The excess is read and dropped (up
 * to 64 MiB) so that a client still sending gets the server's refusal instead of a reset connection.
 */
export async function readBoundedBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const bytes = chunk as Buffer;
    size += bytes.length;
    if (size > limit + DRAIN_BYTES) break;
    if (size <= limit) chunks.push(bytes);
  }
  return size > limit ? undefined : Buffer.concat(chunks);
}
